#include "config/diagnostics.hpp"

namespace tierlb::config {

void Diagnostics::error(const Location& where, std::string message) {
    list_.push_back({where, Severity::error, std::move(message)});
    ++error_count_;
}

void Diagnostics::warning(const Location& where, std::string message) {
    list_.push_back({where, Severity::warning, std::move(message)});
}

std::string format(const Diagnostic& d) {
    std::string text = d.where.file;
    if (d.where.line > 0) {
        text += ":" + std::to_string(d.where.line);
    }
    text += ": ";
    if (d.severity == Severity::warning) {
        text += "warning: ";
    }
    return text + d.message;
}

void Diagnostics::print(std::ostream& out) const {
    for (const auto& d : list_) {
        out << format(d) << '\n';
    }
}

}  // namespace tierlb::config
