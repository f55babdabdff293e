#pragma once
// The compiled eBPF object of common/nohop/leastconn.bpf.c, embedded in tierlb by the build
// (master/CMakeLists.txt, cmake/EmbedFile.cmake) when clang and libbpf are there.

#include <cstddef>

namespace tierlb::master {

extern const unsigned char nohop_program_object[];
extern const std::size_t nohop_program_object_size;

}  // namespace tierlb::master
