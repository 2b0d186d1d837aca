#include "tests/support/ceph_cluster.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace gdprctl::testing {

namespace {

std::string script() { return std::string(GDPRCTL_SOURCE_DIR) + "/tests/support/ceph-cluster"; }

std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

int count_of(const std::string& text, const std::string& what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

CephCluster& CephCluster::shared() {
    static CephCluster cluster;
    return cluster;
}

CephCluster::CephCluster() {
    if (const char* dir = std::getenv("GDPRCTL_TEST_CEPH_DIR"); dir && *dir) {
        m_dir = dir;
    } else {
        m_own = std::make_unique<TempDir>();
        m_dir = m_own->path() / "ceph";
        std::string out, err;
        if (run_command(script() + " start " + shell_quote(m_dir.string()), &out, &err) != 0)
            throw std::runtime_error("tests/support/ceph-cluster start failed: " + out + err);
    }
    m_endpoint = trimmed(read_text(m_dir / "endpoint"));
    m_tls_endpoint = trimmed(read_text(m_dir / "endpoint-tls"));
    m_credentials = m_dir / "credentials";
    auto credentials = connectors::s3::read_credentials_file(m_credentials);
    auto host = m_endpoint.substr(m_endpoint.find("://") + 3);
    m_s3cmd_config = m_scratch / "s3cfg";
    write_text(m_s3cmd_config, "[default]\naccess_key = " + credentials.access_key_id +
                                   "\nsecret_key = " + credentials.secret_access_key + "\nhost_base = " + host +
                                   "\nhost_bucket = " + host + "\nuse_https = False\nsignature_v2 = False\n");
}

CephCluster::~CephCluster() {
    if (m_own) run_command(script() + " stop " + shell_quote(m_dir.string()));
}

connectors::s3::Endpoint CephCluster::bucket_endpoint(const std::string& bucket) const {
    connectors::s3::Endpoint endpoint;
    endpoint.url = m_endpoint;
    endpoint.bucket = bucket;
    endpoint.credentials = connectors::s3::read_credentials_file(m_credentials);
    endpoint.source = "test";
    return endpoint;
}

std::string CephCluster::create_bucket(bool versioned) {
    auto name = "t" + std::to_string(::getpid()) + "-" + std::to_string(++m_buckets);
    connectors::s3::Client client(bucket_endpoint(name));
    client.create_bucket();
    if (versioned) client.set_versioning(true);
    return name;
}

std::string CephCluster::s3cmd(const std::string& arguments) const {
    std::string out, err;
    if (run_command("s3cmd -c " + shell_quote(m_s3cmd_config.string()) + " " + arguments, &out, &err) != 0)
        throw std::runtime_error("s3cmd " + arguments + " failed: " + err);
    return out;
}

std::vector<std::string> CephCluster::keys_by_s3cmd(const std::string& bucket, const std::string& prefix) const {
    auto listing = s3cmd("ls -r " + shell_quote("s3://" + bucket + "/" + prefix));
    std::vector<std::string> keys;
    std::istringstream lines(listing);
    std::string line, base = "s3://" + bucket + "/";
    while (std::getline(lines, line)) {
        auto at = line.find(base);
        if (at != std::string::npos) keys.push_back(line.substr(at + base.size()));
    }
    std::sort(keys.begin(), keys.end());
    return keys;
}

std::string CephCluster::signed_curl(const std::string& options, const std::string& path) const {
    auto credentials = connectors::s3::read_credentials_file(m_credentials);
    std::string out, err;
    run_command("curl -s " + options + " --aws-sigv4 aws:amz:us-east-1:s3 --user " +
                    shell_quote(credentials.access_key_id + ":" + credentials.secret_access_key) +
                    " -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' " + shell_quote(m_endpoint + "/" + path),
                &out, &err);
    return out + err;
}

std::map<std::string, std::string> CephCluster::headers_by_curl(const std::string& bucket,
                                                                const std::string& key) const {
    std::map<std::string, std::string> headers;
    std::istringstream lines(signed_curl("-I", bucket + "/" + key));
    for (std::string line; std::getline(lines, line);) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        auto begin = line.find_first_not_of(' ', colon + 1);
        auto end = line.find_last_not_of(" \r");
        headers[name] = begin == std::string::npos || end < begin ? "" : line.substr(begin, end - begin + 1);
    }
    return headers;
}

std::pair<int, int> CephCluster::versions_by_curl(const std::string& bucket) const {
    // One page is enough for the few versions the tests make; the query is written sorted, as
    // SigV4 needs it.
    auto out = signed_curl("", bucket + "?max-keys=1000&versions=");
    if (out.find("ListVersionsResult") == std::string::npos)
        throw std::runtime_error("curl could not list the versions of " + bucket + ": " + out);
    if (out.find("<IsTruncated>true</IsTruncated>") != std::string::npos)
        throw std::runtime_error("more than 1,000 versions in " + bucket + ": count them in pages");
    return {count_of(out, "<Version>"), count_of(out, "<DeleteMarker>")};
}

}  // namespace gdprctl::testing
