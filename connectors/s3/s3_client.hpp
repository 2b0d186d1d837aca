#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/time.hpp"

// A client for the part of the S3 API gdprctl needs: paged listings of objects and of their
// versions, streamed reads, single and multipart writes, and batched deletes. Requests are
// signed by libcurl (CURLOPT_AWS_SIGV4); listings are parsed by expat as they arrive.
namespace gdprctl::connectors::s3 {

struct Credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string origin;  // where they were read from, for messages: "the environment", a file name
};

// Reads access_key_id and secret_access_key (or aws_access_key_id / aws_secret_access_key, as
// in an AWS credentials file) from "key = value" lines. Error::config naming the file when it
// cannot be read or lacks either.
Credentials read_credentials_file(const std::filesystem::path& file);
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Error::config when either is unset.
Credentials credentials_from_environment();

struct Endpoint {
    std::string url;  // scheme://host[:port], no trailing slash
    std::string bucket;
    std::string region = "us-east-1";
    bool path_style = true;  // false: virtual-host style, bucket.host
    bool verify_tls = true;
    std::string ca_file;
    Credentials credentials;
    std::string source;  // the config's source name, for messages
};

struct ObjectVersion {
    std::string key;
    std::uint64_t size = 0;
    util::UnixTime last_modified = 0;
    std::string version_id;  // empty in a listing of current objects
    std::string etag;        // as the server quotes it
    bool is_latest = true;
    bool delete_marker = false;
};

// What HEAD tells of an object beside its bytes: kept when the object is written anew.
struct ObjectHead {
    std::string content_type;
    std::map<std::string, std::string> metadata;  // x-amz-meta-NAME, by NAME in lower case
};

// One object (or one version of it) to delete.
struct ObjectRef {
    std::string key;
    std::string version_id;  // empty: the current object
};

class Client {
public:
    explicit Client(Endpoint endpoint);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    const Endpoint& endpoint() const { return m_endpoint; }

    // Every current object whose key starts with prefix, in key order, one page of up to 1,000
    // at a time (ListObjectsV2 with continuation tokens).
    void list(const std::string& prefix, const std::function<void(const ObjectVersion&)>& on_object);
    // Every version and delete marker under prefix (ListObjectVersions, paged by key and version
    // markers).
    void list_versions(const std::string& prefix, const std::function<void(const ObjectVersion&)>& on_version);
    // Whether the bucket keeps versions: versioning Enabled, or Suspended after it was (versions
    // made meanwhile remain).
    bool has_versioning();
    // The object's (version's) content type and user metadata; nullopt when it is gone.
    std::optional<ObjectHead> head(const std::string& key, const std::string& version_id = {});
    // Streams the object's bytes (of version_id, when given) to on_bytes as they arrive.
    void get(const std::string& key, const std::function<void(std::string_view)>& on_bytes,
             const std::string& version_id = {});
    void put(const std::string& key, std::string_view body, const ObjectHead* head = nullptr);
    // The bytes produce() passes to its write function, in order. Writes the file as one object:
    // one request when they fit in part_size, a multipart upload of part_size parts otherwise,
    // never more than a part in memory and nothing on disk. Until it returns, the object as it
    // was stays visible; a failure aborts the upload and leaves it so.
    // The object gets head's content type and user metadata, when given.
    using Producer = std::function<void(const std::function<void(std::string_view)>& write)>;
    void put_stream(const std::string& key, const Producer& produce, std::uint64_t part_size = 8u << 20,
                    const ObjectHead* head = nullptr);
    // Writes the file as one object, as put_stream does.
    void put_file(const std::string& key, const std::filesystem::path& file, std::uint64_t part_size = 8u << 20);
    // Deletes up to 1,000 objects in one request (a key XML cannot carry in a request of its
    // own); Error::runtime naming the first key the server refused. Deleting what is already
    // gone succeeds.
    void delete_objects(const std::vector<ObjectRef>& objects);

    // For setting up buckets (the reference platform, tests).
    void create_bucket();
    void set_versioning(bool enabled);

private:
    struct Response;
    struct Request;
    Response perform(const Request& request);
    std::string object_path(const std::string& key) const;
    std::string bucket_path() const;
    std::string base_url() const;
    std::string start_multipart(const std::string& key, const ObjectHead* head);
    std::string upload_part(const std::string& key, const std::string& upload_id, int number, std::string_view bytes);
    void complete_multipart(const std::string& key, const std::string& upload_id, const std::string& parts);
    void abort_multipart(const std::string& key, const std::string& upload_id);
    void delete_one(const ObjectRef& object);

    Endpoint m_endpoint;
    void* m_curl = nullptr;  // CURL*, kept for connection reuse
};

// "%XX" for every byte but the unreserved ones (RFC 3986), as SigV4 wants; keep_slash leaves
// "/" (in paths) as it is.
std::string uri_encode(std::string_view text, bool keep_slash);

}  // namespace gdprctl::connectors::s3
