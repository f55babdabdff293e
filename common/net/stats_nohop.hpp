#pragma once
// The stats socket's command for accept-balance binds (no-hop mode, issue [9]):
//     set accept-balance <frontend>/<bind>@p<N> weight <0..256>
//     set accept-balance <frontend>/<bind>@p<N> state ready|drain|maint
// where <bind>@p<N> is the row of process N in `show stat` ("sock-1@p3"). The eBPF program
// reads weights and states from the group's shared table, so any process of the group may run
// it (the master CLI's `@N` too), and it holds for the group until changed again or the group
// is made anew (a restart of tierlb, or a reload that changes the bind's processes). Weight 0,
// drain and maint all mean that the kernel no longer places new connections on that process;
// they differ only in how show stat names the state. Level admin.

#include <string>
#include <vector>

#include "common/net/runtime.hpp"

namespace tierlb::net {

// WORDS are the whole command ("set", "accept-balance", target, what, value); the answer,
// empty on success.
std::string set_accept_balance(ProcessRuntime& runtime, const std::vector<std::string>& words);

}  // namespace tierlb::net
