#pragma once
// Stand-in declarations; see README.md beside this file.
#include "gloo/context.h"
