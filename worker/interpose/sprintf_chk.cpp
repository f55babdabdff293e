// Why tierlb defines glibc's __sprintf_chk: the price of idle offload.
//
// Idle offload (worker/tls_takeover.cpp) learns a TLS 1.3 connection's traffic secrets from
// OpenSSL's key log callback, the only public way OpenSSL 3.0 gives them. Before calling it,
// OpenSSL formats every secret of the handshake -- five lines of a 32-byte client random and
// a 48-byte secret -- as hex text with one sprintf(cursor, "%02x", byte) per byte: 400 calls
// through glibc's whole printf machinery per handshake, about 290,000 instructions (callgrind),
// a tenth of what a worker spends on a full handshake.
//
// Debian builds OpenSSL with _FORTIFY_SOURCE, so those calls are calls to __sprintf_chk, which
// the dynamic linker resolves to the executable's definition first. This one writes "%02x" of
// a byte itself and hands every other format to glibc's __vsprintf_chk, which does what
// __sprintf_chk would have done (the same length check included). Nothing depends on it being
// used: a libcrypto built without _FORTIFY_SOURCE calls sprintf, and is only slower.
//
// Linked into the tierlb executable and the worker's unit tests (the offload tests check the
// secrets it formats), not into the libraries: an interposer must not arrive by accident.

#include <cstdarg>
#include <cstddef>

extern "C" int __vsprintf_chk(char* out, int flag, std::size_t out_size, const char* format,
                              va_list args);

namespace {

bool is_two_digit_hex(const char* format) {
    return format[0] == '%' && format[1] == '0' && format[2] == '2' && format[3] == 'x' &&
           format[4] == '\0';
}

}  // namespace

extern "C" int __sprintf_chk(char* out, int flag, std::size_t out_size, const char* format, ...) {
    va_list args;
    if (is_two_digit_hex(format) && out_size >= 3) {
        va_start(args, format);
        const unsigned value = va_arg(args, unsigned);
        va_end(args);
        if (value <= 0xff) {
            static constexpr char digits[] = "0123456789abcdef";
            out[0] = digits[value >> 4];
            out[1] = digits[value & 0xf];
            out[2] = '\0';
            return 2;
        }
    }
    va_start(args, format);
    const int written = __vsprintf_chk(out, flag, out_size, format, args);
    va_end(args);
    return written;
}
