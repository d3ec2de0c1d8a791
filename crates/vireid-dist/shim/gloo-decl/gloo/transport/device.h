#pragma once
// Stand-in declarations; see README.md beside this file.
namespace gloo {
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo
