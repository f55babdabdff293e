#pragma once
// Errors and warnings about a configuration, each tied to FILE:LINE. Parsing goes on after an
// error so that one run of `tierlb -c` reports every problem of every file.

#include <ostream>
#include <string>
#include <vector>

namespace tierlb::config {

// Where a keyword was written. line 0 means "the file as a whole" (e.g. it cannot be read).
struct Location {
    std::string file;
    int line = 0;
};

enum class Severity { warning, error };

struct Diagnostic {
    Location where;
    Severity severity = Severity::error;
    std::string message;
};

class Diagnostics {
public:
    void error(const Location& where, std::string message);
    void warning(const Location& where, std::string message);

    bool has_errors() const { return error_count_ > 0; }
    std::size_t error_count() const { return error_count_; }
    const std::vector<Diagnostic>& all() const { return list_; }

    // Each diagnostic as "FILE:LINE: message" (warnings as "FILE:LINE: warning: message"),
    // in the order they were found.
    void print(std::ostream& out) const;

private:
    std::vector<Diagnostic> list_;
    std::size_t error_count_ = 0;
};

std::string format(const Diagnostic& d);

}  // namespace tierlb::config
