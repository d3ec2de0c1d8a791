#pragma once
// Stand-in declarations; see README.md beside this file.
namespace gloo {
class Exception;
class IoException;
}
