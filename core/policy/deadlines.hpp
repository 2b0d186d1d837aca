#pragma once

#include <vector>

#include "core/policy/check.hpp"

// The legal clocks the state database keeps: data subject requests (Art. 12(3), one month from
// receipt) and personal-data breaches (Art. 33: the authority within 72 hours of awareness, each
// controller and, at high risk, the people without undue delay).
namespace gdprctl::policy {

// request-deadlines: an open request past its due date is an error; one due within the rule's
// warn_within_days is a warning.
void check_request_deadlines(const CheckInput& input, const CheckRule& rule, std::vector<Finding>& out);
// breach-notification: the authority not told 72 hours after awareness (unless the assessment
// found the risk unlikely) is an error, and a warning before; a tenant whose data a breach
// reached and who was not told is an error, as are people not told of a high-risk breach of
// the platform's own data.
void check_breach_notification(const CheckInput& input, const CheckRule& rule, std::vector<Finding>& out);

}  // namespace gdprctl::policy
