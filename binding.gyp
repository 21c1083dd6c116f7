# Builds the addon from source for `npm install` (node-gyp-build falls back to
# it when no prebuild matches). Sources come from native/sources.json, the one
# list CMakeLists.txt reads too. Links the system OpenBLAS (Debian: libopenblas-dev).
{
  "targets": [
    {
      "target_name": "rnnkit",
      "sources": [
        "<!@(node -p \"const s=require('./native/sources.json'); s.kernels.concat(s.addon).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/find-openblas.js --cflags)"
      ],
      "libraries": ["<!@(node scripts/find-openblas.js --libs)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_ADDON_API_ENABLE_TYPE_CHECK_ON_AS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      }
    }
  ]
}
