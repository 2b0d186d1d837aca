#include "connectors/s3/s3_client.hpp"

#include <curl/curl.h>
#include <expat.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "core/crypto/primitives.hpp"
#include "core/error.hpp"
#include "core/util/escape.hpp"

namespace gdprctl::connectors::s3 {

namespace {

constexpr long k_connect_timeout_seconds = 10;
constexpr int k_attempts = 4;  // a request the server failed (5xx, 429) is tried this often

void initialise_curl_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string trim(std::string_view text) {
    auto begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string_view::npos) return {};
    auto end = text.find_last_not_of(" \t\r\n");
    return std::string(text.substr(begin, end - begin + 1));
}

// XML 1.0 cannot carry most control characters, even as references, and a parser turns a
// carriage return into a newline: a key holding one is deleted on its own, by its URL.
bool fits_in_xml(std::string_view key) {
    for (unsigned char c : key)
        if (c < 0x20 && c != '\t' && c != '\n') return false;
    return true;
}

std::string sha256_hex(std::string_view body) {
    crypto::Sha256 digest;
    digest.update(reinterpret_cast<const unsigned char*>(body.data()), body.size());
    return digest.hex();
}

std::string md5_base64(std::string_view body) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(body.data(), body.size(), md, &length, EVP_md5(), nullptr);
    std::string encoded(4 * ((length + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), md, static_cast<int>(length));
    encoded.resize(static_cast<std::size_t>(n));
    return encoded;
}

// Calls on_element(path, text) at the end of every element, path being the names from the
// root joined by "/" ("ListBucketResult/Contents/Key"); text is the element's own text.
class XmlElements {
public:
    using Callback = std::function<void(const std::string& path, const std::string& text)>;
    explicit XmlElements(Callback on_element) : m_on_element(std::move(on_element)) {}

    // Error::runtime when body is not well-formed XML.
    void parse(std::string_view body, const std::string& what) {
        XML_Parser parser = XML_ParserCreate("UTF-8");
        XML_SetUserData(parser, this);
        XML_SetElementHandler(parser, &XmlElements::start, &XmlElements::end);
        XML_SetCharacterDataHandler(parser, &XmlElements::characters);
        bool ok = XML_Parse(parser, body.data(), static_cast<int>(body.size()), 1) == XML_STATUS_OK;
        std::string error = ok ? "" : XML_ErrorString(XML_GetErrorCode(parser));
        XML_ParserFree(parser);
        if (m_failure) std::rethrow_exception(m_failure);
        if (!ok) throw Error::runtime(what + ": the server's answer is not XML (" + error + ")");
    }

private:
    static void start(void* self, const XML_Char* name, const XML_Char**) {
        auto& me = *static_cast<XmlElements*>(self);
        me.m_lengths.push_back(me.m_path.size());
        if (!me.m_path.empty()) me.m_path += '/';
        me.m_path += name;
        me.m_text.clear();
    }
    static void end(void* self, const XML_Char*) {
        auto& me = *static_cast<XmlElements*>(self);
        try {
            if (!me.m_failure) me.m_on_element(me.m_path, me.m_text);
        } catch (...) {
            me.m_failure = std::current_exception();  // exceptions cannot cross expat's C frames
        }
        me.m_path.resize(me.m_lengths.back());
        me.m_lengths.pop_back();
        me.m_text.clear();
    }
    static void characters(void* self, const XML_Char* text, int length) {
        static_cast<XmlElements*>(self)->m_text.append(text, static_cast<std::size_t>(length));
    }

    Callback m_on_element;
    std::string m_path;
    std::vector<std::size_t> m_lengths;
    std::string m_text;
    std::exception_ptr m_failure;
};

struct ServerError {
    std::string code;
    std::string message;
};

ServerError parse_server_error(std::string_view body) {
    ServerError error;
    XmlElements elements([&](const std::string& path, const std::string& text) {
        if (path == "Error/Code") error.code = text;
        if (path == "Error/Message") error.message = text;
    });
    try {
        elements.parse(body, "error");
    } catch (const Error&) {
        // Not every error has an S3 body (a proxy's HTML page); the status says enough.
    }
    return error;
}

bool is_credentials_error(long status, const std::string& code) {
    return status == 403 &&
           (code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "AccessDenied" || code.empty());
}

util::UnixTime time_of(const std::string& text) { return util::parse_iso8601(text).value_or(0); }

// Listings are asked for with encoding-type=url, so that a key with bytes XML cannot carry
// (control characters) still lists: keys come back percent-encoded, a space as "+" on some
// servers (a "+" itself is always encoded).
std::string url_decoded(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

}  // namespace

std::string uri_encode(std::string_view text, bool keep_slash) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

namespace {

// The file holds a secret that reaches every object in the bucket: one others may read is said
// out loud, as the master key file is, and still used (refusing would stop a purge that is due).
void warn_if_credentials_are_exposed(const std::filesystem::path& file) {
    struct stat info {};
    if (::stat(file.c_str(), &info) != 0 || (info.st_mode & 0077) == 0) return;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    spdlog::warn(
        "the credentials file {} is readable or writable by others than its owner (mode {}): run 'chmod 600 {}'",
        util::printable(file.string()), mode, util::printable(file.string()));
}

}  // namespace

Credentials read_credentials_file(const std::filesystem::path& file) {
    warn_if_credentials_are_exposed(file);
    std::ifstream in(file);
    if (!in)
        throw Error::config("cannot read the credentials file " + file.string(),
                            "give a file with \"access_key_id = ...\" and \"secret_access_key = ...\" lines");
    Credentials credentials;
    credentials.origin = file.string();
    std::string line;
    while (std::getline(in, line)) {
        auto equals = line.find('=');
        if (equals == std::string::npos) continue;
        auto key = trim(std::string_view(line).substr(0, equals));
        auto value = trim(std::string_view(line).substr(equals + 1));
        if (key == "access_key_id" || key == "aws_access_key_id") credentials.access_key_id = value;
        if (key == "secret_access_key" || key == "aws_secret_access_key") credentials.secret_access_key = value;
    }
    if (credentials.access_key_id.empty() || credentials.secret_access_key.empty())
        throw Error::config("the credentials file " + file.string() + " lacks access_key_id or secret_access_key",
                            "give both, one \"key = value\" line each");
    return credentials;
}

Credentials credentials_from_environment() {
    const char* id = std::getenv("AWS_ACCESS_KEY_ID");
    const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
    if (!id || !*id || !secret || !*secret)
        throw Error::config("no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set",
                            "set both, or give \"credentials_file\" in the source");
    return {id, secret, "the environment (AWS_ACCESS_KEY_ID)"};
}

struct Client::Request {
    std::string method = "GET";
    std::string path;                          // encoded, from the root: "/bucket/key"
    std::map<std::string, std::string> query;  // sorted, as the signature wants them
    std::string_view body;
    std::vector<std::string> headers;
    std::function<void(std::string_view)> on_bytes;  // streams a 2xx body instead of keeping it
    std::string what;                                // for messages: "listing recordings/"
    bool missing_ok = false;                         // a 404 is an answer, not a failure
};

struct Client::Response {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // by name in lower case
};

Client::Client(Endpoint endpoint) : m_endpoint(std::move(endpoint)) {
    initialise_curl_once();
    m_curl = curl_easy_init();
    if (!m_curl) throw Error::runtime("cannot initialise libcurl");
}

Client::~Client() { curl_easy_cleanup(static_cast<CURL*>(m_curl)); }

std::string Client::base_url() const {
    if (m_endpoint.path_style) return m_endpoint.url;
    auto scheme_end = m_endpoint.url.find("://");
    auto host_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
    return m_endpoint.url.substr(0, host_start) + m_endpoint.bucket + "." + m_endpoint.url.substr(host_start);
}

std::string Client::bucket_path() const { return m_endpoint.path_style ? "/" + m_endpoint.bucket : "/"; }

std::string Client::object_path(const std::string& key) const {
    return (m_endpoint.path_style ? "/" + m_endpoint.bucket + "/" : "/") + uri_encode(key, true);
}

namespace {

struct Transfer {
    CURL* curl;
    const std::function<void(std::string_view)>* on_bytes;
    std::string* body;
    std::map<std::string, std::string>* headers;
    bool streamed = false;
    std::exception_ptr failure;
};

std::size_t on_write(char* data, std::size_t, std::size_t size, void* user) {
    auto& transfer = *static_cast<Transfer*>(user);
    long status = 0;
    curl_easy_getinfo(transfer.curl, CURLINFO_RESPONSE_CODE, &status);
    if (*transfer.on_bytes && status / 100 == 2) {
        try {
            (*transfer.on_bytes)(std::string_view(data, size));
            transfer.streamed = true;
        } catch (...) {
            transfer.failure = std::current_exception();
            return 0;  // aborts the transfer
        }
    } else {
        transfer.body->append(data, size);
    }
    return size;
}

std::size_t on_header(char* data, std::size_t, std::size_t size, void* user) {
    auto& transfer = *static_cast<Transfer*>(user);
    std::string_view line(data, size);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return size;
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    (*transfer.headers)[name] = trim(line.substr(colon + 1));
    return size;
}

bool has_header(const std::vector<std::string>& headers, std::string_view name) {
    for (const auto& header : headers)
        if (header.size() > name.size() && header[name.size()] == ':' &&
            std::equal(name.begin(), name.end(), header.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
            }))
            return true;
    return false;
}

// The request headers that give an object head's content type and user metadata.
std::vector<std::string> headers_of(const ObjectHead* head) {
    std::vector<std::string> headers;
    if (!head) return headers;
    if (!head->content_type.empty()) headers.push_back("Content-Type: " + head->content_type);
    for (const auto& [name, value] : head->metadata) headers.push_back("x-amz-meta-" + name + ": " + value);
    return headers;
}

std::string query_text(const std::map<std::string, std::string>& query) {
    std::string text;
    // Every parameter written as name=value, "=" even when empty, in sorted order: libcurl signs
    // the query as it is written, and S3 compares it with its canonical form.
    for (const auto& [name, value] : query)
        text += (text.empty() ? "?" : "&") + uri_encode(name, false) + "=" + uri_encode(value, false);
    return text;
}

}  // namespace

Client::Response Client::perform(const Request& request) {
    auto* curl = static_cast<CURL*>(m_curl);
    auto url = base_url() + request.path + query_text(request.query);
    auto shown = m_endpoint.url + request.path;
    for (int attempt = 1;; ++attempt) {
        Response response;
        Transfer transfer{curl, &request.on_bytes, &response.body, &response.headers, false, nullptr};
        curl_easy_reset(curl);
        char error_text[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, k_connect_timeout_seconds);
        // A stalled server fails the request rather than hanging a purge for ever.
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, m_endpoint.verify_tls ? 1L : 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, m_endpoint.verify_tls ? 2L : 0L);
        if (!m_endpoint.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, m_endpoint.ca_file.c_str());
        auto sigv4 = "aws:amz:" + m_endpoint.region + ":s3";
        curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
        curl_easy_setopt(curl, CURLOPT_USERNAME, m_endpoint.credentials.access_key_id.c_str());
        curl_easy_setopt(curl, CURLOPT_PASSWORD, m_endpoint.credentials.secret_access_key.c_str());
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        if (request.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        if (request.method == "PUT" || request.method == "POST") {
            curl_easy_setopt(curl, CURLOPT_POST, 1L);
            // Never a null pointer: libcurl would then read the body from stdin.
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
        }
        struct curl_slist* headers = nullptr;
        // libcurl 7.88 signs the payload hash it is given and does not compute one itself.
        auto payload = "x-amz-content-sha256: " + sha256_hex(request.body);
        headers = curl_slist_append(headers, payload.c_str());
        if ((request.method == "PUT" || request.method == "POST") && !has_header(request.headers, "Content-Type"))
            headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
        for (const auto& header : request.headers) headers = curl_slist_append(headers, header.c_str());
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
        CURLcode result = curl_easy_perform(curl);
        curl_slist_free_all(headers);
        if (transfer.failure) std::rethrow_exception(transfer.failure);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
        bool retry_possible = attempt < k_attempts && !transfer.streamed;
        if (result != CURLE_OK) {
            bool transient = result == CURLE_SEND_ERROR || result == CURLE_RECV_ERROR || result == CURLE_GOT_NOTHING ||
                             result == CURLE_PARTIAL_FILE || result == CURLE_OPERATION_TIMEDOUT;
            if (transient && retry_possible) {
                std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
                continue;
            }
            std::string detail = *error_text ? error_text : curl_easy_strerror(result);
            std::string hint = result == CURLE_PEER_FAILED_VERIFICATION || result == CURLE_SSL_CACERT_BADFILE
                                   ? "give \"ca_file\" with the CA that signed the server's certificate"
                                   : "check \"endpoint\" in the source and that the server runs and is reachable";
            throw Error::runtime("source \"" + m_endpoint.source + "\": cannot reach " + m_endpoint.url + " (" +
                                     request.what + "): " + detail,
                                 hint);
        }
        if (response.status / 100 == 2 || (request.missing_ok && response.status == 404)) return response;
        if ((response.status >= 500 || response.status == 429) && retry_possible) {
            std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
            continue;
        }
        auto error = parse_server_error(response.body);
        std::string code = error.code.empty() ? "HTTP " + std::to_string(response.status) : error.code;
        if (is_credentials_error(response.status, error.code))
            throw Error::runtime(
                "source \"" + m_endpoint.source + "\": " + m_endpoint.url + " refused the credentials from " +
                    m_endpoint.credentials.origin + " (" + code + ", " + request.what + ")",
                "check the access key id and secret, and that they may use bucket \"" + m_endpoint.bucket + "\"");
        if (error.code == "NoSuchBucket")
            throw Error::config("source \"" + m_endpoint.source + "\": bucket \"" + m_endpoint.bucket +
                                    "\" does not exist at " + m_endpoint.url,
                                "correct \"bucket\" in the source");
        throw Error::runtime("source \"" + m_endpoint.source + "\": " + request.method + " " + util::printable(shown) +
                             " (" + request.what + ") failed: " + code +
                             (error.message.empty() ? "" : ": " + error.message));
    }
}

void Client::list(const std::string& prefix, const std::function<void(const ObjectVersion&)>& on_object) {
    std::string token;
    for (;;) {
        Request request;
        request.path = bucket_path();
        request.query = {{"encoding-type", "url"}, {"list-type", "2"}, {"max-keys", "1000"}, {"prefix", prefix}};
        if (!token.empty()) request.query["continuation-token"] = token;
        request.what = "listing \"" + prefix + "\"";
        auto response = perform(request);
        bool truncated = false;
        std::string next;
        ObjectVersion object;
        XmlElements elements([&](const std::string& path, const std::string& text) {
            if (path == "ListBucketResult/Contents/Key")
                object.key = url_decoded(text);
            else if (path == "ListBucketResult/Contents/Size")
                object.size = std::strtoull(text.c_str(), nullptr, 10);
            else if (path == "ListBucketResult/Contents/LastModified")
                object.last_modified = time_of(text);
            else if (path == "ListBucketResult/Contents/ETag")
                object.etag = text;
            else if (path == "ListBucketResult/Contents")
                on_object(std::exchange(object, {}));
            else if (path == "ListBucketResult/IsTruncated")
                truncated = text == "true";
            else if (path == "ListBucketResult/NextContinuationToken")
                next = text;
        });
        elements.parse(response.body, "source \"" + m_endpoint.source + "\": " + request.what);
        if (!truncated) return;
        if (next.empty() || next == token)
            throw Error::runtime("source \"" + m_endpoint.source + "\": the listing of \"" + prefix +
                                 "\" is truncated but gives no new continuation token");
        token = next;
    }
}

void Client::list_versions(const std::string& prefix, const std::function<void(const ObjectVersion&)>& on_version) {
    std::string key_marker, version_marker;
    for (;;) {
        Request request;
        request.path = bucket_path();
        request.query = {{"encoding-type", "url"}, {"max-keys", "1000"}, {"prefix", prefix}, {"versions", ""}};
        if (!key_marker.empty()) request.query["key-marker"] = key_marker;
        if (!version_marker.empty()) request.query["version-id-marker"] = version_marker;
        request.what = "listing the versions under \"" + prefix + "\"";
        auto response = perform(request);
        bool truncated = false;
        std::string next_key, next_version;
        ObjectVersion version;
        XmlElements elements([&](const std::string& path, const std::string& text) {
            static const std::string v = "ListVersionsResult/Version", d = "ListVersionsResult/DeleteMarker";
            bool in_version = path.rfind(v, 0) == 0, in_marker = path.rfind(d, 0) == 0;
            if (in_version || in_marker) {
                auto field = path.substr(in_version ? v.size() : d.size());
                if (field == "/Key")
                    version.key = url_decoded(text);
                else if (field == "/VersionId")
                    version.version_id = text;
                else if (field == "/IsLatest")
                    version.is_latest = text == "true";
                else if (field == "/Size")
                    version.size = std::strtoull(text.c_str(), nullptr, 10);
                else if (field == "/LastModified")
                    version.last_modified = time_of(text);
                else if (field == "/ETag")
                    version.etag = text;
                else if (field.empty()) {
                    version.delete_marker = in_marker;
                    on_version(std::exchange(version, {}));
                }
            } else if (path == "ListVersionsResult/IsTruncated") {
                truncated = text == "true";
            } else if (path == "ListVersionsResult/NextKeyMarker") {
                next_key = url_decoded(text);
            } else if (path == "ListVersionsResult/NextVersionIdMarker") {
                next_version = text;
            }
        });
        elements.parse(response.body, "source \"" + m_endpoint.source + "\": " + request.what);
        if (!truncated) return;
        if (next_key == key_marker && next_version == version_marker)
            throw Error::runtime("source \"" + m_endpoint.source + "\": the version listing of \"" + prefix +
                                 "\" is truncated but gives no new marker");
        key_marker = next_key;
        version_marker = next_version;
    }
}

bool Client::has_versioning() {
    Request request;
    request.path = bucket_path();
    request.query = {{"versioning", ""}};
    request.what = "reading the bucket's versioning";
    auto response = perform(request);
    std::string status;
    XmlElements elements([&](const std::string& path, const std::string& text) {
        if (path == "VersioningConfiguration/Status") status = text;
    });
    elements.parse(response.body, "source \"" + m_endpoint.source + "\": " + request.what);
    return status == "Enabled" || status == "Suspended";
}

std::optional<ObjectHead> Client::head(const std::string& key, const std::string& version_id) {
    Request request;
    request.method = "HEAD";
    request.path = object_path(key);
    if (!version_id.empty()) request.query["versionId"] = version_id;
    request.what = "reading what is known of " + util::printable(key);
    request.missing_ok = true;
    auto response = perform(request);
    if (response.status == 404) return std::nullopt;
    ObjectHead head;
    static const std::string k_meta = "x-amz-meta-";
    for (const auto& [name, value] : response.headers) {
        if (name == "content-type") head.content_type = value;
        if (name.rfind(k_meta, 0) == 0) head.metadata[name.substr(k_meta.size())] = value;
    }
    return head;
}

void Client::get(const std::string& key, const std::function<void(std::string_view)>& on_bytes,
                 const std::string& version_id) {
    Request request;
    request.path = object_path(key);
    if (!version_id.empty()) request.query["versionId"] = version_id;
    request.on_bytes = on_bytes;
    request.what = "reading " + util::printable(key);
    perform(request);
}

void Client::put(const std::string& key, std::string_view body, const ObjectHead* head) {
    Request request;
    request.method = "PUT";
    request.path = object_path(key);
    request.body = body;
    request.headers = headers_of(head);
    request.what = "writing " + util::printable(key);
    perform(request);
}

void Client::put_stream(const std::string& key, const Producer& produce, std::uint64_t part_size,
                        const ObjectHead* head) {
    std::string part;
    std::string upload_id, parts;
    int number = 0;
    auto send_part = [&] {
        if (upload_id.empty()) upload_id = start_multipart(key, head);
        auto etag = upload_part(key, upload_id, ++number, part);
        parts += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" + util::markup_escape(etag) +
                 "</ETag></Part>";
        part.clear();
    };
    try {
        produce([&](std::string_view bytes) {
            while (!bytes.empty()) {
                auto room = static_cast<std::size_t>(part_size) - part.size();
                auto taken = std::min(room, bytes.size());
                part.append(bytes.substr(0, taken));
                bytes.remove_prefix(taken);
                // A full part waits for the next byte: the last part may be the only one.
                if (!bytes.empty()) send_part();
            }
        });
        if (upload_id.empty()) {
            put(key, part, head);
            return;
        }
        if (!part.empty()) send_part();
        complete_multipart(key, upload_id, parts);
    } catch (...) {
        // The parts written so far would otherwise stay, unlisted, holding the bytes.
        if (!upload_id.empty()) abort_multipart(key, upload_id);
        throw;
    }
}

void Client::put_file(const std::string& key, const std::filesystem::path& file, std::uint64_t part_size) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error::runtime("cannot read " + file.string());
    put_stream(
        key,
        [&](const std::function<void(std::string_view)>& write) {
            std::string chunk(1 << 20, '\0');
            while (in) {
                in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
                if (in.gcount() > 0) write(std::string_view(chunk.data(), static_cast<std::size_t>(in.gcount())));
            }
            if (in.bad()) throw Error::runtime("cannot read " + file.string());
        },
        part_size);
}

std::string Client::start_multipart(const std::string& key, const ObjectHead* head) {
    Request start;
    start.method = "POST";
    start.path = object_path(key);
    start.query = {{"uploads", ""}};
    start.headers = headers_of(head);
    start.what = "starting the multipart upload of " + util::printable(key);
    std::string upload_id;
    XmlElements ids([&](const std::string& path, const std::string& text) {
        if (path == "InitiateMultipartUploadResult/UploadId") upload_id = text;
    });
    ids.parse(perform(start).body, start.what);
    if (upload_id.empty())
        throw Error::runtime("source \"" + m_endpoint.source + "\": " + start.what + ": no upload id");
    return upload_id;
}

std::string Client::upload_part(const std::string& key, const std::string& upload_id, int number,
                                std::string_view bytes) {
    Request upload;
    upload.method = "PUT";
    upload.path = object_path(key);
    upload.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}};
    upload.body = bytes;
    upload.what = "writing part " + std::to_string(number) + " of " + util::printable(key);
    return perform(upload).headers["etag"];
}

void Client::complete_multipart(const std::string& key, const std::string& upload_id, const std::string& parts) {
    std::string completion = "<CompleteMultipartUpload>" + parts + "</CompleteMultipartUpload>";
    Request complete;
    complete.method = "POST";
    complete.path = object_path(key);
    complete.query = {{"uploadId", upload_id}};
    complete.body = completion;
    complete.what = "completing the multipart upload of " + util::printable(key);
    perform(complete);
}

void Client::abort_multipart(const std::string& key, const std::string& upload_id) {
    Request abort;
    abort.method = "DELETE";
    abort.path = object_path(key);
    abort.query = {{"uploadId", upload_id}};
    abort.what = "aborting the multipart upload of " + util::printable(key);
    try {
        perform(abort);
    } catch (const Error&) {
        // The failure that led here is the one to report.
    }
}

void Client::delete_one(const ObjectRef& object) {
    Request request;
    request.method = "DELETE";
    request.path = object_path(object.key);
    if (!object.version_id.empty()) request.query["versionId"] = object.version_id;
    request.what = "deleting " + util::printable(object.key);
    perform(request);
}

void Client::delete_objects(const std::vector<ObjectRef>& objects) {
    std::vector<const ObjectRef*> batched;
    for (const auto& object : objects) {
        if (fits_in_xml(object.key))
            batched.push_back(&object);
        else
            delete_one(object);
    }
    if (batched.empty()) return;
    std::string body = "<Delete><Quiet>true</Quiet>";
    for (const auto* each : batched) {
        const auto& object = *each;
        body += "<Object><Key>" + util::markup_escape(object.key) + "</Key>";
        if (!object.version_id.empty()) body += "<VersionId>" + util::markup_escape(object.version_id) + "</VersionId>";
        body += "</Object>";
    }
    body += "</Delete>";
    Request request;
    request.method = "POST";
    request.path = bucket_path();
    request.query = {{"delete", ""}};
    request.body = body;
    request.headers = {"Content-MD5: " + md5_base64(body)};
    request.what = "deleting " + std::to_string(batched.size()) + " objects";
    auto response = perform(request);
    std::string key, code, message;
    std::string refused;
    XmlElements elements([&](const std::string& path, const std::string& text) {
        if (path == "DeleteResult/Error/Key") key = text;
        if (path == "DeleteResult/Error/Code") code = text;
        if (path == "DeleteResult/Error/Message") message = text;
        if (path == "DeleteResult/Error" && refused.empty() && code != "NoSuchKey")
            refused = util::printable(key) + ": " + code + (message.empty() ? "" : " (" + message + ")");
    });
    elements.parse(response.body, "source \"" + m_endpoint.source + "\": " + request.what);
    if (!refused.empty())
        throw Error::runtime("source \"" + m_endpoint.source + "\": the server refused to delete " + refused,
                             "run the same command again once the cause is fixed: what was deleted stays deleted");
}

void Client::create_bucket() {
    Request request;
    request.method = "PUT";
    request.path = bucket_path();
    request.what = "creating bucket " + m_endpoint.bucket;
    perform(request);
}

void Client::set_versioning(bool enabled) {
    std::string body = std::string("<VersioningConfiguration><Status>") + (enabled ? "Enabled" : "Suspended") +
                       "</Status></VersioningConfiguration>";
    Request request;
    request.method = "PUT";
    request.path = bucket_path();
    request.query = {{"versioning", ""}};
    request.body = body;
    request.what = "setting the bucket's versioning";
    perform(request);
}

}  // namespace gdprctl::connectors::s3
