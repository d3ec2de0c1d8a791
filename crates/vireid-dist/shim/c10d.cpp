// A C interface over libtorch's c10d: a TCPStore for rendezvous and a Gloo (CPU tensors) or
// NCCL (CUDA tensors) backend, driven through c10d's Backend interface. Every entry point
// catches C++ exceptions and hands their text back as a malloc'd string (null on success),
// so that nothing unwinds into Rust. Tensors arrive as the at::Tensor pointers tch holds.

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#ifdef VIREID_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

char* copy_message(const char* text) {
  size_t n = std::strlen(text);
  char* out = static_cast<char*>(std::malloc(n + 1));
  if (out != nullptr) {
    std::memcpy(out, text, n + 1);
  }
  return out;
}

// Runs `body`, returning null or the message of what it threw.
template <typename F>
char* guarded(F&& body) {
  try {
    body();
    return nullptr;
  } catch (const std::exception& e) {
    return copy_message(e.what());
  } catch (...) {
    return copy_message("unknown C++ exception in c10d");
  }
}

void finish(const c10::intrusive_ptr<c10d::Work>& work, std::chrono::milliseconds timeout) {
  work->wait(timeout);
}

#ifdef VIREID_NCCL
// The NCCL backend's two constructors live in libtorch_cuda. Naming them in the code would
// make every program linking this shim load libtorch_cuda and the CUDA libraries at start
// (0.1 s and 265 MB of mappings, even with no GPU), whereas `vireid` loads them only where an
// NVIDIA driver is (vireid_nn::cuda). So they are looked up when a group is made. A mangled
// name spells out every parameter type: when dlsym finds one of these, the pointer types
// below are that constructor's own (PyTorch 2.11 and 2.13 export both, checked with nm).
constexpr const char* kOptionsCtor = "_ZN4c10d16ProcessGroupNCCL7OptionsC1Eb";
constexpr const char* kGroupCtor =
    "_ZN4c10d16ProcessGroupNCCLC1EN3c1013intrusive_ptrINS_5StoreENS1_6detail34intrusive_"
    "target_default_null_typeIS3_EEEEiiNS2_INS0_7OptionsENS5_IS8_EEEE";
using OptionsCtor = void (*)(void* self, bool is_high_priority_stream);
using GroupCtor = void (*)(void* self, c10::intrusive_ptr<c10d::Store> store, int rank,
                           int size, c10::intrusive_ptr<c10d::ProcessGroupNCCL::Options> options);

template <typename F>
F cuda_symbol(const char* name) {
  if (void* found = dlsym(RTLD_DEFAULT, name)) {
    return reinterpret_cast<F>(found);
  }
  if (dlopen("libtorch_cuda.so", RTLD_LAZY | RTLD_NOLOAD) == nullptr) {
    throw std::runtime_error(
        "the NCCL backend needs libtorch_cuda, which this process did not load: no NVIDIA "
        "driver (libcuda.so.1) was found when it started");
  }
  throw std::runtime_error(std::string("this libtorch_cuda has no ") + name +
                           ": another PyTorch version than the NCCL code was written for");
}

// `new T(...)` with a constructor found at run time: the memory is ours until the
// constructor returns, then the intrusive pointer's, as make_intrusive leaves it.
template <typename T, typename Ctor, typename... Args>
c10::intrusive_ptr<T> make_late(Ctor ctor, Args&&... args) {
  void* memory = ::operator new(sizeof(T));
  try {
    ctor(memory, std::forward<Args>(args)...);
  } catch (...) {
    ::operator delete(memory);
    throw;
  }
  return c10::intrusive_ptr<T>::unsafe_steal_from_new(static_cast<T*>(memory));
}

c10::intrusive_ptr<c10d::Backend> nccl_group(const c10::intrusive_ptr<c10d::Store>& store,
                                             int rank, int world_size,
                                             std::chrono::milliseconds timeout) {
  auto options = make_late<c10d::ProcessGroupNCCL::Options>(
      cuda_symbol<OptionsCtor>(kOptionsCtor), false);
  options->timeout = timeout;
  return make_late<c10d::ProcessGroupNCCL>(cuda_symbol<GroupCtor>(kGroupCtor),
                                           store, rank, world_size, options);
}
#endif

}  // namespace

struct vd_store {
  c10::intrusive_ptr<c10d::Store> store;
};

struct vd_group {
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

extern "C" {

void vd_free_message(char* message) { std::free(message); }

char* vd_store_new(const char* host, uint16_t port, int world_size, bool is_server,
                   int64_t timeout_ms, vd_store** out) {
  return guarded([&] {
    c10d::TCPStoreOptions options;
    options.port = port;
    options.isServer = is_server;
    options.numWorkers = static_cast<size_t>(world_size);
    options.waitWorkers = true;
    options.timeout = std::chrono::milliseconds(timeout_ms);
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), options);
    *out = new vd_store{store};
  });
}

void vd_store_free(vd_store* store) { delete store; }

// backend: 0 Gloo, 1 NCCL.
char* vd_group_new(vd_store* store, int backend, int rank, int world_size, int64_t timeout_ms,
                   vd_group** out) {
  return guarded([&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10::intrusive_ptr<c10d::Backend> made;
    if (backend == 0) {
      auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
      made = c10::make_intrusive<c10d::ProcessGroupGloo>(store->store, rank, world_size,
                                                         options);
    } else {
#ifdef VIREID_NCCL
      made = nccl_group(store->store, rank, world_size, timeout);
#else
      throw std::runtime_error(
          "this build of vireid has no NCCL backend (its libtorch has no CUDA, or nccl.h was "
          "not found when it was built)");
#endif
    }
    *out = new vd_group{made, timeout};
  });
}

void vd_group_free(vd_group* group) { delete group; }

bool vd_has_nccl() {
#ifdef VIREID_NCCL
  return true;
#else
  return false;
#endif
}

// op: 0 sum, 1 max, 2 min.
char* vd_all_reduce(vd_group* group, at::Tensor* tensor, int op) {
  return guarded([&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = op == 1 ? c10d::ReduceOp::MAX
                       : op == 2 ? c10d::ReduceOp::MIN
                                 : c10d::ReduceOp::SUM;
    options.timeout = group->timeout;
    finish(group->backend->allreduce(tensors, options), group->timeout);
  });
}

char* vd_broadcast(vd_group* group, at::Tensor* tensor, int root) {
  return guarded([&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    options.rootTensor = 0;
    options.timeout = group->timeout;
    finish(group->backend->broadcast(tensors, options), group->timeout);
  });
}

// outputs: world_size tensors shaped like input.
char* vd_all_gather(vd_group* group, at::Tensor** outputs, int n, at::Tensor* input) {
  return guarded([&] {
    std::vector<std::vector<at::Tensor>> out(1);
    for (int i = 0; i < n; ++i) {
      out[0].push_back(*outputs[i]);
    }
    std::vector<at::Tensor> in{*input};
    c10d::AllgatherOptions options;
    options.timeout = group->timeout;
    finish(group->backend->allgather(out, in, options), group->timeout);
  });
}

char* vd_barrier(vd_group* group) {
  return guarded([&] {
    c10d::BarrierOptions options;
    options.timeout = group->timeout;
    finish(group->backend->barrier(options), group->timeout);
  });
}

}  // extern "C"
