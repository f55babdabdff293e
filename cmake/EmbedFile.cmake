# cmake -DINPUT=FILE -DOUTPUT=FILE.cpp -DHEADER=path/of.hpp -DNAMESPACE=ns -DSYMBOL=name
#       -P EmbedFile.cmake
# Writes a C++ source that defines `const unsigned char SYMBOL[]` (the bytes of INPUT) and
# `const std::size_t SYMBOL_size` in NAMESPACE, as HEADER declares them: a binary file built
# with the program (the eBPF object of accept-balance) becomes part of the executable.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
# Sixteen bytes a line.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUTPUT}"
     "// Generated from ${INPUT} by cmake/EmbedFile.cmake: do not edit.\n"
     "#include \"${HEADER}\"\n\n"
     "namespace ${NAMESPACE} {\n\n"
     "const unsigned char ${SYMBOL}[] = {\n    ${bytes}\n};\n"
     "const std::size_t ${SYMBOL}_size = ${size};\n\n"
     "}  // namespace ${NAMESPACE}\n")
