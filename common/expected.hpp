#pragma once
// A value or an error, for functions whose failure is an expected outcome (bad input) rather
// than a bug. C++20 has no std::expected; this is the small part of it tierlb needs.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace tierlb {

template <typename E>
struct Unexpected {
    E error;
};

// Wraps an error so that `return unexpected("why");` converts to any Expected<T, E>.
template <typename E>
Unexpected<std::decay_t<E>> unexpected(E&& error) {
    return {std::forward<E>(error)};
}
inline Unexpected<std::string> unexpected(const char* error) {
    return {std::string(error)};
}

template <typename T, typename E = std::string>
class Expected {
public:
    Expected(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
    template <typename U>
    Expected(Unexpected<U> error) : storage_(std::in_place_index<1>, E(std::move(error.error))) {}

    bool has_value() const { return storage_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() {
        assert(has_value());
        return std::get<0>(storage_);
    }
    const T& value() const {
        assert(has_value());
        return std::get<0>(storage_);
    }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const E& error() const {
        assert(!has_value());
        return std::get<1>(storage_);
    }

private:
    std::variant<T, E> storage_;
};

}  // namespace tierlb
