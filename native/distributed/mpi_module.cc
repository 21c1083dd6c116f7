// The optional distributed module (rnnkit_mpi.node): Open MPI's collectives on typed arrays, each run
// on libuv's pool (KernelWorker) so the event loop stays free. Built only where Open MPI is found
// (binding.gyp and CMakeLists.txt say how); lib/native-mpi.ts loads it. No computation here beyond
// the mean's division. One collective at a time: lib/train/process-group.ts queues them, and the
// guard below refuses a second one that slips past.
#include <dlfcn.h>
#include <mpi.h>
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../addon/checks.h"
#include "../addon/kernel_worker.h"

namespace rnnkit_addon {
namespace {

std::atomic<bool> g_busy{false};

void ThrowState(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_RNNKIT_DISTRIBUTED"));
  throw error;
}

void Check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw std::runtime_error(std::string("rnnkit: MPI_") + what + " failed: " + std::string(text, size_t(length)));
}

bool Initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  return flag != 0;
}

bool Finalized() {
  int flag = 0;
  MPI_Finalized(&flag);
  return flag != 0;
}

// Open MPI opens its components with dlopen and they resolve libmpi's symbols globally; a Node
// addon is opened RTLD_LOCAL, so libmpi is first reopened RTLD_GLOBAL (as mpi4py does).
void MakeMpiGlobal() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Finalized()) ThrowState(env, "distributed: this process already closed its group; MPI cannot start twice");
  int provided = MPI_THREAD_SINGLE;
  if (!Initialized()) {
    MakeMpiGlobal();
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
      ThrowState(env, "distributed: MPI_Init_thread failed");
    // Errors come back as codes (turned into rejected promises), not as MPI's default abort.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  } else {
    MPI_Query_thread(&provided);
  }
  // Collectives run on libuv's pool threads, one at a time (SERIALIZED); abort may come from the
  // JS thread while one is blocked, which only MULTIPLE allows.
  if (provided < MPI_THREAD_MULTIPLE)
    ThrowState(env, "distributed: this MPI library does not support MPI_THREAD_MULTIPLE, which rnnkit needs");
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(version, &length);
  Napi::Object out = Napi::Object::New(env);
  out.Set("rank", rank);
  out.Set("worldSize", size);
  out.Set("library", std::string(version, size_t(length)));
  return out;
}

struct Buffer {
  void* data;
  int count;
  MPI_Datatype type;
};

// Float32Array or Float64Array for reductions; broadcasts take Int32Array and Uint8Array too.
Buffer RequireBuffer(const Napi::Value& v, const char* name, bool reduction) {
  const char* expected = reduction ? "a Float32Array or Float64Array" : "a Float32Array, Float64Array, Int32Array or Uint8Array";
  if (!v.IsTypedArray()) ThrowType(v.Env(), std::string(name) + ": expected " + expected + ", got " + Describe(v));
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  if (a.ElementLength() > size_t(INT32_MAX))
    ThrowShape(v.Env(), std::string(name) + ": at most 2^31-1 elements per call, got " + std::to_string(a.ElementLength()));
  void* data = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  const int count = int(a.ElementLength());
  switch (a.TypedArrayType()) {
    case napi_float32_array: return {data, count, MPI_FLOAT};
    case napi_float64_array: return {data, count, MPI_DOUBLE};
    case napi_int32_array: if (!reduction) return {data, count, MPI_INT32_T}; break;
    case napi_uint8_array: if (!reduction) return {data, count, MPI_UINT8_T}; break;
    default: break;
  }
  ThrowType(v.Env(), std::string(name) + ": expected " + expected + ", got " + Describe(v));
}

void RequireRunning(Napi::Env env) {
  if (!Initialized() || Finalized()) ThrowState(env, "distributed: the group is not open (call init first, not after close)");
  if (g_busy.exchange(true)) ThrowState(env, "distributed: another collective is still running in this process");
}

Napi::Value Run(const Napi::CallbackInfo& info, std::function<void()> collective, Napi::Value keep) {
  auto* worker = new KernelWorker(info.Env(), std::move(collective), {keep}, [] { g_busy = false; });
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// allreduceAsync(buffer, divisor): sum over every rank in place, then divided by `divisor` (1: the
// sum; worldSize: the mean). Division, not a multiply by 1/divisor, so a mean of equal values is exact.
Napi::Value AllreduceAsync(const Napi::CallbackInfo& info) {
  Buffer b = RequireBuffer(info[0], "buffer", true);
  const double divisor = RequireNumber(info[1], "divisor", 1, 1 << 30);
  RequireRunning(info.Env());
  return Run(info, [b, divisor] {
    Check(MPI_Allreduce(MPI_IN_PLACE, b.data, b.count, b.type, MPI_SUM, MPI_COMM_WORLD), "Allreduce");
    if (divisor == 1) return;
    if (b.type == MPI_FLOAT) {
      float* x = static_cast<float*>(b.data);
      const float d = float(divisor);
      for (int i = 0; i < b.count; ++i) x[i] /= d;
    } else {
      double* x = static_cast<double*>(b.data);
      for (int i = 0; i < b.count; ++i) x[i] /= divisor;
    }
  }, info[0]);
}

// broadcastAsync(buffer, root): root's values into every rank's buffer (same length everywhere).
Napi::Value BroadcastAsync(const Napi::CallbackInfo& info) {
  Buffer b = RequireBuffer(info[0], "buffer", false);
  const int root = int(RequireNumber(info[1], "root", 0, INT32_MAX));
  RequireRunning(info.Env());
  return Run(info, [b, root] { Check(MPI_Bcast(b.data, b.count, b.type, root, MPI_COMM_WORLD), "Bcast"); }, info[0]);
}

Napi::Value BarrierAsync(const Napi::CallbackInfo& info) {
  RequireRunning(info.Env());
  return Run(info, [] { Check(MPI_Barrier(MPI_COMM_WORLD), "Barrier"); }, info.Env().Undefined());
}

// Ends every process of the job (mpirun reports the code); the fate of a job with a lost worker.
Napi::Value Abort(const Napi::CallbackInfo& info) {
  const int code = int(RequireNumber(info[0], "code", 1, 255));
  if (Initialized() && !Finalized()) MPI_Abort(MPI_COMM_WORLD, code);
  return info.Env().Undefined();
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  if (g_busy) ThrowState(info.Env(), "distributed: close() while a collective is still running");
  if (Initialized() && !Finalized()) MPI_Finalize();
  return info.Env().Undefined();
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("allreduceAsync", Napi::Function::New(env, AllreduceAsync, "allreduceAsync"));
  exports.Set("broadcastAsync", Napi::Function::New(env, BroadcastAsync, "broadcastAsync"));
  exports.Set("barrierAsync", Napi::Function::New(env, BarrierAsync, "barrierAsync"));
  exports.Set("abort", Napi::Function::New(env, Abort, "abort"));
  exports.Set("finalize", Napi::Function::New(env, Finalize, "finalize"));
  return exports;
}

}  // namespace
}  // namespace rnnkit_addon

static Napi::Object InitRnnkitMpi(Napi::Env env, Napi::Object exports) { return rnnkit_addon::InitModule(env, exports); }

NODE_API_MODULE(rnnkit_mpi, InitRnnkitMpi)
