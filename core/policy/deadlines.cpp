#include "core/policy/deadlines.hpp"

namespace gdprctl::policy {

namespace {

constexpr std::int64_t k_hour = 3600;
constexpr std::int64_t k_day = 86400;

std::string days_text(std::int64_t seconds) {
    auto days = seconds / k_day;
    return days == 0 ? std::to_string(seconds / k_hour) + " hours"
                     : std::to_string(days) + (days == 1 ? " day" : " days");
}

std::string hours_text(std::int64_t seconds) {
    auto hours = seconds / k_hour;
    return std::to_string(hours) + (hours == 1 ? " hour" : " hours");
}

std::string described(const requests::Request& request) {
    return request.kind + (request.tenant ? ", tenant " + *request.tenant : "") + ", received " +
           util::format_iso8601(request.received);
}

std::string answer_hint(const requests::Request& request) {
    auto command = requests::command_for(request.kind);
    return (command.empty() ? "" : "'gdprctl " + command + " --request " + request.id + "', then ") +
           "'gdprctl request close " + request.id + "' (or --refused REASON)";
}

Finding finding_of(const CheckRule& rule, Severity severity, const std::string& where, std::string message,
                   std::string fix) {
    return {rule.id, severity, "", "", where, std::move(message), std::move(fix)};
}

}  // namespace

void check_request_deadlines(const CheckInput& input, const CheckRule& rule, std::vector<Finding>& out) {
    if (!input.accountability) return;
    for (const auto& request : input.accountability->requests) {
        if (!request.open()) continue;
        auto due = request.due();
        auto where = "request " + request.id;
        if (input.now > due) {
            out.push_back(finding_of(rule, rule.severity, where,
                                     "request " + request.id + " (" + described(request) + ") is " +
                                         days_text(input.now - due) + " past its due date " +
                                         util::format_iso8601(due) + " (Art. 12(3))",
                                     "answer it now: " + answer_hint(request)));
        } else if (due - input.now <= rule.warn_within_seconds) {
            bool can_extend =
                request.extended_months() < 2 && input.now <= requests::end_of_period(request.received, 1);
            out.push_back(finding_of(
                rule, Severity::warning, where,
                "request " + request.id + " (" + described(request) + ") is due in " + days_text(due - input.now) +
                    ", at " + util::format_iso8601(due),
                answer_hint(request) + (can_extend ? "; or tell the person of an extension: 'gdprctl request "
                                                     "extend " +
                                                         request.id + " --months 1|2 --reason TEXT'"
                                                   : "")));
        }
    }
}

void check_breach_notification(const CheckInput& input, const CheckRule& rule, std::vector<Finding>& out) {
    if (!input.accountability) return;
    for (const auto& breach : input.accountability->breaches) {
        auto where = "breach " + breach.id;
        auto aware = "aware since " + util::format_iso8601(breach.aware_at);
        if (breach.authority_due()) {
            if (input.now > breach.deadline())
                out.push_back(finding_of(
                    rule, rule.severity, where,
                    "breach " + breach.id + " (" + aware + ") is " + hours_text(input.now - breach.deadline()) +
                        " past the 72-hour deadline and the supervisory authority was not told (Art. 33(1))",
                    "'gdprctl breach notify " + breach.id +
                        " --to authority --late-reason TEXT'; or, if the assessment finds it unlikely to result in a "
                        "risk, 'gdprctl breach assess " +
                        breach.id + " --risk unlikely ...'"));
            else
                out.push_back(finding_of(rule, Severity::warning, where,
                                         "breach " + breach.id + " (" + aware +
                                             "): the supervisory authority must be "
                                             "told within " +
                                             hours_text(breach.deadline() - input.now) + ", by " +
                                             util::format_iso8601(breach.deadline()) + " (Art. 33(1))",
                                         "'gdprctl breach assess " + breach.id + "', then 'gdprctl breach notify " +
                                             breach.id + " --to authority'"));
        }
        for (const auto& tenant : breach.controllers_not_told())
            out.push_back(
                finding_of(rule, rule.severity, where + " tenant " + tenant,
                           "breach " + breach.id + " (" + aware +
                               ") reached data the platform processes "
                               "for tenant " +
                               tenant +
                               ", and the tenant was not told (Art. 33(2): "
                               "without undue delay)",
                           "'gdprctl breach notify " + breach.id + " --to controller --tenant " + tenant + "'"));
        if (breach.subjects_due() && breach.tenants.empty())
            out.push_back(finding_of(rule, rule.severity, where,
                                     "breach " + breach.id +
                                         " is assessed as a high risk and the people concerned "
                                         "were not told (Art. 34(1): without undue delay)",
                                     "'gdprctl breach notify " + breach.id + " --to subjects'"));
    }
}

}  // namespace gdprctl::policy
