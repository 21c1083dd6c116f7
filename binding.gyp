# Builds the addon: from source for `npm install` (node-gyp-build falls back to
# it when no prebuild matches), and the prebuilt binary (`npm run prebuild`).
# Sources come from native/sources.json, the one list CMakeLists.txt reads too;
# NAPI_VERSION comes from package.json "binary.napi_versions", the one place it
# is declared.
#   default:                   links the system OpenBLAS (Debian: libopenblas-dev);
#                              scripts/find-openblas.js says what to install if it is missing.
#   rnnkit_static_openblas=1:  links libopenblas.a (pthread build) into the binary, its
#                              symbols hidden, so it loads where no OpenBLAS is installed
#                              (libstdc++ stays shared: Node itself needs it). Set by
#                              scripts/prebuild.js (RNNKIT_STATIC_OPENBLAS=1 in the environment),
#                              or by hand: `node-gyp rebuild -- -Drnnkit_static_openblas=1`.
# rnnkit_mpi (the optional distributed module, build/Release/rnnkit_mpi.node): built when
# scripts/find-mpi.js finds Open MPI's mpicc (Debian: libopenmpi-dev), never in the static
# prebuild; without it everything else builds and works, and distributed.init says what to install.
{
  "variables": {
    "rnnkit_static_openblas%": "<!(node -p \"process.env.RNNKIT_STATIC_OPENBLAS === '1' ? 1 : 0\")",
    "rnnkit_mpi%": "<!(node scripts/find-mpi.js --available)"
  },
  "conditions": [
    ["rnnkit_mpi==1", {
      "targets": [
        {
          "target_name": "rnnkit_mpi",
          "sources": [
            "<!@(node -p \"require('./native/sources.json').distributed.join(' ')\")"
          ],
          "include_dirs": [
            "<!(node -p \"require('node-addon-api').include_dir\")",
            "<!@(node scripts/find-mpi.js --cflags)"
          ],
          "libraries": ["<!@(node scripts/find-mpi.js --libs)"],
          "defines": [
            "NAPI_VERSION=<!(node -p \"Math.min(...require('./package.json').binary.napi_versions)\")",
            "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_ADDON_API_ENABLE_TYPE_CHECK_ON_AS",
            "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
            # MPI's C API only: no deprecated C++ bindings (and no libmpi_cxx to link).
            "OMPI_SKIP_MPICXX", "MPICH_SKIP_MPICXX"
          ],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
          "cflags_cc": ["-std=c++17", "-O2", "-fvisibility=hidden", "-fexceptions"]
        }
      ]
    }]
  ],
  "targets": [
    {
      "target_name": "rnnkit",
      "sources": [
        "<!@(node -p \"const s=require('./native/sources.json'); s.kernels.concat(s.addon).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=<!(node -p \"Math.min(...require('./package.json').binary.napi_versions)\")",
        "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_ADDON_API_ENABLE_TYPE_CHECK_ON_AS",
        # A worker terminated while an AsyncWorker runs: its OnOK/OnError meet an environment
        # that can no longer run JS; without this, node-addon-api throws from a callback and the
        # whole process aborts (test/worker-threads.test.ts).
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      # -fno-trapping-math: lets GCC vectorise the element-wise cell loops for AVX2 (fast_math.h).
      # -fno-math-errno: sqrt becomes one instruction instead of a call that may set errno, so the
      # optimizer loops (Adam's sqrt) vectorise; neither flag changes a computed value.
      # -ffp-contract=off: a*b+c stays two roundings unless a kernel asks for an FMA, the same in
      # every build (CMakeLists.txt says so too), so bit-for-bit tests hold on arm64 as on x86.
      # -fvisibility=hidden: only the N-API entry point is exported. Otherwise the statics of
      # inline functions (the thread pool, the ISA choice) are GNU-unique symbols, shared
      # process-wide by every rnnkit.node loaded: two rnnkit versions in one process would
      # use one pool object laid out by the other's code.
      "cflags_cc": ["-std=c++17", "-O3", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off", "-fvisibility=hidden", "-fexceptions"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      },
      "conditions": [
        ["rnnkit_static_openblas==1", {
          "include_dirs": ["<!@(node scripts/find-openblas-static.js --cflags)"],
          "libraries": ["<!@(node scripts/find-openblas-static.js --libs)"],
          "ldflags": ["-Wl,--exclude-libs,ALL"]
        }, {
          "include_dirs": ["<!@(node scripts/find-openblas.js --cflags)"],
          "libraries": ["<!@(node scripts/find-openblas.js --libs)"]
        }]
      ]
    }
  ]
}
