# Compiler flags every tierlb target gets, through the interface library tierlb_flags.
add_library(tierlb_flags INTERFACE)
target_compile_options(tierlb_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused
                       -Woverloaded-virtual -Wformat=2
                       # g++ 12 reports Asio's coroutine frame allocator (a class-specific
                       # operator new/delete pair) as mismatched: a known false positive.
                       $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>)
if(TIERLB_WERROR)
  target_compile_options(tierlb_flags INTERFACE -Werror)
endif()
target_include_directories(tierlb_flags INTERFACE ${CMAKE_SOURCE_DIR}
                           ${CMAKE_BINARY_DIR}/generated)

if(TIERLB_SANITIZE)
  message(STATUS "tierlb: building with -fsanitize=${TIERLB_SANITIZE}")
  # Every target, tierlb_asio (Asio's implementation, compiled once) included: TSan must see
  # the synchronisation inside it, ASan its memory.
  add_compile_options(-fsanitize=${TIERLB_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${TIERLB_SANITIZE})
  # g++ 12 with sanitizers reports uninitialised reads inside libstdc++ (std::regex,
  # std::function) that are not there.
  target_compile_options(tierlb_flags INTERFACE
                         $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
  if(TIERLB_SANITIZE MATCHES "thread")
    # Asio brackets each handler with std::atomic_thread_fence, which TSan does not model (g++
    # refuses it: -Wtsan). Its handler queues are under a mutex, which TSan does see, so
    # without the fences TSan checks the same synchronisation.
    add_compile_definitions(BOOST_ASIO_DISABLE_FENCED_BLOCK)
  endif()
endif()

# Fuzzing: instrument the library code too, so libFuzzer sees coverage inside the parsers and
# ASan/UBSan check them; tests/fuzz links the fuzzer itself into each fuzz_NAME.
if(TIERLB_FUZZ)
  target_compile_options(tierlb_flags INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(tierlb_flags INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
endif()

# tierlb_library(NAME GLOB_PATTERNS... LINK libs...): a static library of the files that match,
# or an interface library while the folder is still empty, linked to LINK either way.
function(tierlb_library name)
  cmake_parse_arguments(arg "" "" "GLOBS;LINK" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${arg_GLOBS})
  list(FILTER sources EXCLUDE REGEX "/main\\.cpp$")
  if(sources)
    add_library(${name} STATIC ${sources})
    target_link_libraries(${name} PUBLIC tierlb_flags ${arg_LINK})
  else()
    add_library(${name} INTERFACE)
    target_link_libraries(${name} INTERFACE tierlb_flags ${arg_LINK})
  endif()
endfunction()
