#pragma once
// The fuzz targets' assertion: checked in every build type, since a fuzz run must stop on the
// first broken invariant.

#include <cstdio>
#include <cstdlib>

#define FUZZ_ASSERT(condition)                                                                     \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)
