#include <unistd.h>

#include <cstdlib>
#include <regex>

#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace gdprctl::cli {

namespace {

struct ScheduleArguments {
    std::string every = "daily";
    std::string at = "03:15";
    bool print = false;
    bool install = false;
    bool system = false;
    std::string unit_dir;
};

std::string binary_path() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? "gdprctl" : exe.string();
}

// systemd's OnCalendar and cron's fields for the schedule.
std::pair<std::string, std::string> calendar(const ScheduleArguments& arguments) {
    static const std::regex k_time("([01][0-9]|2[0-3]):([0-5][0-9])");
    std::smatch match;
    if (!std::regex_match(arguments.at, match, k_time))
        throw Error::usage("--at \"" + arguments.at + "\" is not HH:MM", "write e.g. --at 03:15");
    std::string hour = match[1].str(), minute = match[2].str();
    auto strip = [](const std::string& two) { return two[0] == '0' ? two.substr(1) : two; };
    if (arguments.every == "hourly") return {"*-*-* *:" + minute + ":00", strip(minute) + " * * * *"};
    return {"*-*-* " + hour + ":" + minute + ":00", strip(minute) + " " + strip(hour) + " * * *"};
}

std::string service_unit(const std::string& config) {
    return "[Unit]\nDescription=gdprctl retention purge for " + config +
           "\nDocumentation=man:gdprctl-retention(1)\n\n[Service]\nType=oneshot\nExecStart=" + binary_path() +
           " --config " + config +
           " retention apply --wait\n# Output goes to the journal (journalctl -u gdprctl-retention).\n";
}

std::string timer_unit(const std::string& on_calendar) {
    return "[Unit]\nDescription=Run the gdprctl retention purge on schedule\n\n[Timer]\nOnCalendar=" + on_calendar +
           "\nPersistent=true\nRandomizedDelaySec=300\n\n[Install]\nWantedBy=timers.target\n";
}

void run(const GlobalOptions& options, const ScheduleArguments& arguments) {
    if (arguments.print == arguments.install) throw Error::usage("choose one of --print and --install");
    auto config = std::filesystem::absolute(options.config).lexically_normal().string();
    if (!std::filesystem::exists(config)) throw Error::config("config file " + config + " not found");
    auto [on_calendar, cron] = calendar(arguments);
    auto service = service_unit(config);
    auto timer = timer_unit(on_calendar);
    std::string crontab = cron + " " + binary_path() + " --config " + config + " -q retention apply --wait\n";
    if (arguments.print) {
        print_result(options,
                     "# gdprctl-retention.service\n" + service + "\n# gdprctl-retention.timer\n" + timer +
                         "\n# or, for cron (crontab -e):\n" + crontab,
                     {{"service", service}, {"timer", timer}, {"crontab", crontab}});
        return;
    }
    std::filesystem::path dir = arguments.unit_dir;
    if (dir.empty()) {
        const char* home = std::getenv("HOME");
        dir = arguments.system ? std::filesystem::path("/etc/systemd/system")
                               : std::filesystem::path(home ? home : ".") / ".config/systemd/user";
    }
    std::filesystem::create_directories(dir);
    util::write_file_atomically(dir / "gdprctl-retention.service", service, 0644);
    util::write_file_atomically(dir / "gdprctl-retention.timer", timer, 0644);
    std::string scope = arguments.system ? "" : " --user";
    print_result(options,
                 "Wrote " + (dir / "gdprctl-retention.service").string() +
                     " and gdprctl-retention.timer.\nEnable with: systemctl" + scope + " daemon-reload && systemctl" +
                     scope + " enable --now gdprctl-retention.timer\n",
                 {{"dir", dir.string()}, {"enable", "systemctl" + scope + " enable --now gdprctl-retention.timer"}});
}

}  // namespace

void add_schedule_command(CLI::App& app, GlobalOptions& options) {
    auto arguments = std::make_shared<ScheduleArguments>();
    auto* command = app.add_subcommand("schedule", "Run 'retention apply' on a schedule (systemd timer or cron)");
    command->add_option("--every", arguments->every, "How often")
        ->check(CLI::IsMember({"daily", "hourly"}))
        ->capture_default_str();
    command->add_option("--at", arguments->at, "Time of day (daily) or minute (hourly), HH:MM, local time")
        ->capture_default_str();
    command->add_flag("--print", arguments->print, "Print the systemd units and the crontab line");
    command->add_flag("--install", arguments->install, "Write the systemd service and timer units");
    command->add_flag("--system", arguments->system,
                      "With --install: system units in /etc/systemd/system (default: user units)");
    command->add_option("--unit-dir", arguments->unit_dir, "With --install: write the units here instead");
    command->callback([&options, arguments] { run(options, *arguments); });
}

}  // namespace gdprctl::cli
