// Asio's implementation, compiled once for the whole program (BOOST_ASIO_SEPARATE_COMPILATION):
// every other translation unit includes only the declarations, which keeps builds fast.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
