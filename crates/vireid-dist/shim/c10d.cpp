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
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      made = c10::make_intrusive<c10d::ProcessGroupNCCL>(store->store, rank, world_size,
                                                         options);
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
