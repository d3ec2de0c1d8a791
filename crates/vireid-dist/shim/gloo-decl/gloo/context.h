#pragma once
// Stand-in declarations; see README.md beside this file. The member is named by an inline
// function of ProcessGroupGloo.hpp that the shim never calls.
#include <chrono>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
}  // namespace gloo
