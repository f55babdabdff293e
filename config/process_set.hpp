#pragma once
// A set of process numbers, 1 to 64 (INTERFACE.md section 2), as a bit mask. "all" is kept as
// a marker until every process the configuration uses is known, then resolved.

#include <bit>
#include <cstdint>
#include <vector>

namespace tierlb::config {

class ProcessSet {
public:
    static constexpr int max_process = 64;

    ProcessSet() = default;
    static ProcessSet single(int process) { return ProcessSet(bit(process)); }
    static ProcessSet range(int first, int last) {
        ProcessSet s;
        for (int p = first; p <= last; ++p) {
            s.bits_ |= bit(p);
        }
        return s;
    }
    static ProcessSet all() {
        ProcessSet s;
        s.all_ = true;
        return s;
    }

    bool is_all() const { return all_; }
    bool empty() const { return !all_ && bits_ == 0; }
    bool contains(int process) const { return all_ || (bits_ & bit(process)) != 0; }
    int count() const { return std::popcount(bits_); }
    std::uint64_t mask() const { return bits_; }

    // "all" becomes USED; any other set is returned as it is.
    ProcessSet resolved(const ProcessSet& used) const { return all_ ? used : *this; }

    std::vector<int> numbers() const {
        std::vector<int> out;
        for (int p = 1; p <= max_process; ++p) {
            if ((bits_ & bit(p)) != 0) {
                out.push_back(p);
            }
        }
        return out;
    }

    ProcessSet& operator|=(const ProcessSet& other) {
        bits_ |= other.bits_;
        all_ = all_ || other.all_;
        return *this;
    }
    friend bool operator==(const ProcessSet&, const ProcessSet&) = default;

private:
    explicit ProcessSet(std::uint64_t bits) : bits_(bits) {}
    static std::uint64_t bit(int process) { return std::uint64_t{1} << (process - 1); }

    std::uint64_t bits_ = 0;
    bool all_ = false;
};

}  // namespace tierlb::config
