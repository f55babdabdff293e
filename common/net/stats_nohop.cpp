#include "common/net/stats_nohop.hpp"

#include <charconv>
#include <string_view>

#include "common/log/event_log.hpp"
#include "common/net/stats_csv.hpp"

namespace tierlb::net {

namespace {

constexpr std::string_view usage =
    "usage: set accept-balance <frontend>/<bind>@p<N> weight <0-256> | state "
    "ready|drain|maint\n";

struct SlotTarget {
    NohopMember* member = nullptr;
    int process = 0;
};

// "FRONTEND/BIND@pN" as show stat names the row of process N.
std::optional<SlotTarget> find_slot(const ProcessRuntime& runtime, std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view frontend = text.substr(0, slash);
    const std::string_view row = text.substr(slash + 1);
    for (const auto& listener : runtime.listeners) {
        if (!listener->nohop || listener->frontend->config->name != frontend) {
            continue;
        }
        for (const NohopSlotView& slot : listener->nohop->slots()) {
            if (nohop_slot_name(*listener->config, slot.process) == row) {
                return SlotTarget{listener->nohop.get(), slot.process};
            }
        }
    }
    return std::nullopt;
}

std::optional<std::uint32_t> parse_weight(std::string_view text) {
    std::uint32_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value > 256) {
        return std::nullopt;
    }
    return value;
}

std::optional<std::uint32_t> parse_state(std::string_view text) {
    if (text == "ready") {
        return nohop_ready;
    }
    if (text == "drain") {
        return nohop_drain;
    }
    if (text == "maint") {
        return nohop_maint;
    }
    return std::nullopt;
}

}  // namespace

std::string set_accept_balance(ProcessRuntime& runtime, const std::vector<std::string>& words) {
    if (words.size() != 5) {
        return std::string(usage);
    }
    const auto target = find_slot(runtime, words[2]);
    if (!target) {
        return "No such accept-balance row (see show stat: <frontend>/<bind>@p<N>).\n";
    }
    if (words[3] == "weight") {
        const auto weight = parse_weight(words[4]);
        if (!weight) {
            return "Absolute weight can only be between 0 and 256 inclusive.\n";
        }
        target->member->set_weight(target->process, *weight);
        log::notice("accept-balance {}: weight set to {} by the stats socket", words[2], *weight);
        return "";
    }
    if (words[3] == "state") {
        const auto state = parse_state(words[4]);
        if (!state) {
            return "'set accept-balance <row> state' expects 'ready', 'drain' and 'maint'.\n";
        }
        target->member->set_admin(target->process, *state);
        log::notice("accept-balance {}: state set to {} by the stats socket", words[2], words[4]);
        return "";
    }
    return std::string(usage);
}

}  // namespace tierlb::net
