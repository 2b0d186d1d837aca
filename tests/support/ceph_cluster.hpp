#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "connectors/s3/s3_client.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::testing {

// The one-node Ceph cluster with a RADOS Gateway that tests/support/ceph-cluster starts on
// 127.0.0.1. CTest starts one for all the S3 tests (fixture "ceph") and names its directory in
// GDPRCTL_TEST_CEPH_DIR; a test process run without it starts its own and stops it at exit.
// Each test works in buckets of its own, so test processes can share the cluster.
class CephCluster {
public:
    // Throws std::runtime_error (with the daemons' logs) when the cluster cannot start.
    static CephCluster& shared();
    ~CephCluster();
    CephCluster(const CephCluster&) = delete;
    CephCluster& operator=(const CephCluster&) = delete;

    const std::string& endpoint() const { return m_endpoint; }
    // The same gateway on https, with a certificate for 127.0.0.1 that ca_file() signed.
    const std::string& tls_endpoint() const { return m_tls_endpoint; }
    std::filesystem::path ca_file() const { return m_dir / "tls" / "ca.pem"; }
    const std::filesystem::path& credentials_file() const { return m_credentials; }
    // A new, empty bucket of this process (versioned: keeps every version); its name.
    std::string create_bucket(bool versioned = false);
    connectors::s3::Endpoint bucket_endpoint(const std::string& bucket) const;

    // Checks from outside gdprctl, with s3cmd: the keys under prefix ("bucket/prefix"), sorted.
    std::vector<std::string> keys_by_s3cmd(const std::string& bucket, const std::string& prefix = "") const;
    // s3cmd with a config for this cluster; its stdout, throwing on failure.
    std::string s3cmd(const std::string& arguments) const;
    // Every version and delete marker under bucket, counted with curl's own SigV4 signing
    // (s3cmd lists no versions): {versions, delete markers}. Throws beyond one page (1,000).
    std::pair<int, int> versions_by_curl(const std::string& bucket) const;
    // The headers a HEAD of the object answers, names in lower case, with curl's SigV4 signing.
    std::map<std::string, std::string> headers_by_curl(const std::string& bucket, const std::string& key) const;

private:
    // curl with options, signed with the cluster's credentials, on endpoint/path; what it printed.
    std::string signed_curl(const std::string& options, const std::string& path) const;
    CephCluster();

    std::unique_ptr<TempDir> m_own;  // set when this process started the cluster
    std::filesystem::path m_dir;
    std::string m_endpoint;
    std::string m_tls_endpoint;
    std::filesystem::path m_credentials;
    std::filesystem::path m_s3cmd_config;
    TempDir m_scratch;
    int m_buckets = 0;
};

}  // namespace gdprctl::testing
