#include "cli/common.hpp"

#include <iostream>

#include "core/config/workspace.hpp"

namespace gdprctl::cli {

config::Workspace load_workspace(const GlobalOptions& options) { return config::load_workspace(options.config); }

void print_result(const GlobalOptions& options, const std::string& text, const nlohmann::json& json) {
    if (options.output_format() == Format::json) {
        std::cout << json.dump(2) << "\n";
    } else if (!options.quiet) {
        std::cout << text;
    }
}

}  // namespace gdprctl::cli
