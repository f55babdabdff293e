#pragma once
// Entry point of config/: reads configuration files, parses, completes and validates them.
//
//   Diagnostics diagnostics;
//   auto config = load_files({"/etc/tierlb.cfg"}, diagnostics);
//   diagnostics.print(std::cerr);   // every error and warning, as FILE:LINE: message
//   if (!config) return 1;
//
// Files are read in order (a directory stands for its *.cfg files in name order); a section
// ends at the end of its file, while the last defaults section carries over to the next file.

#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/lexer.hpp"
#include "config/model.hpp"

namespace tierlb::config {

// The configuration, or null when there was any error (all of them are in DIAGNOSTICS).
ConfigurationPtr load_files(const std::vector<std::string>& paths, Diagnostics& diagnostics,
                            const EnvLookup& env = process_environment());

// The same from text in memory, NAME standing for the file in messages. For tests.
ConfigurationPtr load_text(std::string_view text, const std::string& name, Diagnostics& diagnostics,
                           const EnvLookup& env = process_environment());

// The passes after parsing, exposed for tests: finalize() applies what depends on the whole
// configuration (ssl-default-bind-*, crt-base, ids, process numbers); validate() reports
// what cannot run (missing backends, conflicting options, addresses bound twice, ...).
void finalize(Configuration& config);
void validate(const Configuration& config, Diagnostics& diagnostics);

}  // namespace tierlb::config
