#include "core/error.hpp"

#include <utility>

namespace gdprctl {

Error::Error(ErrorKind kind, std::string message, std::string hint)
    : std::runtime_error(std::move(message)), m_kind(kind), m_hint(std::move(hint)) {}

Error Error::findings(std::string message, std::string hint) {
    return Error(ErrorKind::findings, std::move(message), std::move(hint));
}
Error Error::usage(std::string message, std::string hint) {
    return Error(ErrorKind::usage, std::move(message), std::move(hint));
}
Error Error::config(std::string message, std::string hint) {
    return Error(ErrorKind::config, std::move(message), std::move(hint));
}
Error Error::runtime(std::string message, std::string hint) {
    return Error(ErrorKind::runtime, std::move(message), std::move(hint));
}
Error Error::integrity(std::string message, std::string hint) {
    return Error(ErrorKind::integrity, std::move(message), std::move(hint));
}

}  // namespace gdprctl
