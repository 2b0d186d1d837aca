#pragma once

#include <vector>

#include "core/policy/check.hpp"

namespace gdprctl::ropa {

// The register checks (policy kinds register-*), shared by 'register validate' and 'check'.
// Each appends what it finds about input.reg to findings, attributed to rule.
void check_register(const policy::CheckInput& input, const policy::CheckRule& rule,
                    std::vector<policy::Finding>& findings);

bool is_register_kind(const std::string& kind);

}  // namespace gdprctl::ropa
