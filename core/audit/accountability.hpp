#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "core/audit/report.hpp"

// The audit report's sections on the legal clocks: data subject requests (Art. 12(3)) and the
// breach register (Art. 33(5)). Built from what the state database records; a tenant's report
// holds only requests about that tenant or about no tenant, and breaches that reached it, with
// that tenant's counts only.
namespace gdprctl::audit {

nlohmann::json requests_section(const ReportInput& input);
nlohmann::json breaches_section(const ReportInput& input, const std::set<std::string>& other_tenants);

void html_requests(std::ostringstream& out, const nlohmann::json& report);
void html_breaches(std::ostringstream& out, const nlohmann::json& report);
void markdown_requests(std::ostringstream& out, const nlohmann::json& report);
void markdown_breaches(std::ostringstream& out, const nlohmann::json& report);

}  // namespace gdprctl::audit
