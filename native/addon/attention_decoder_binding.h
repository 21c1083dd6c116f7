// Registers attentionDecoderForward/Backward (+Async twins) and attentionDecoderSizes.
#pragma once
#include <napi.h>

namespace rnnkit_addon {
void RegisterAttentionDecoder(Napi::Env env, Napi::Object exports);
}
