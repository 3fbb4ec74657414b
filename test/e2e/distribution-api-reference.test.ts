// The OCI distribution-spec v1.1 HTTP suite against the reference implementation, CNCF Distribution 2.8
// (Debian's docker-registry, filesystem storage in a temp dir, storage.delete.enabled: true).
// It keeps the suite honest: every check Distribution fails is listed below with the reason,
// verified against a live docker-registry 2.8.2; anything else failing here is a bug in the suite.
import { startDockerRegistry } from '../helpers/docker-registry';
import { runDistributionApiSuite } from './distribution-api-suite';

const NO_SINGLE_POST =
  'Distribution 2.8 ignores ?digest= on POST /blobs/uploads/ and opens a session (202); the spec allows that ' +
  '(end-4b: registries MAY support single-POST), berth\'s contract does not';
const NO_CONTENT_RANGE_CHECK =
  'Distribution 2.8 ignores Content-Range on PATCH and appends the chunk (202); spec end-5: out-of-order chunks MUST get 416';
const ROUTE_MISS_PLAIN_404 =
  'Distribution 2.8 answers with its router\'s plain-text "404 page not found"; the spec lets a 4xx body be any format, ' +
  'berth\'s contract requires the JSON {"errors":[...]} body';
const PATH_CLEANING_REDIRECT =
  'Distribution 2.8 (gorilla/mux path cleaning) answers 301 to the cleaned path instead of rejecting the invalid name';
const TAGS_UNSORTED_UNPAGED =
  'Distribution 2.8 returns tags in storage (directory) order and ignores n/last (no Link); spec end-8a/8b: ' +
  'tags MUST be in lexical order, n MUST limit the list, n=0 MUST give an empty list';
const NO_REFERRERS =
  'Distribution 2.8 predates distribution-spec 1.1: no referrers API (plain 404) and no OCI-Subject header';

const knownFailures: Record<string, string> = {
  'end-2 §Pulling blobs (RFC 9110 Range): an unsatisfiable Range returns 416':
    'Distribution 2.8 sends 416 but keeps the blob\'s Content-Length with a shorter "invalid range" body, ' +
    'so the response is truncated (broken HTTP framing) and fetch fails',

  'end-4b §Single POST: POST ?digest=<digest> with the blob returns 201 with a pullable Location (single-POST upload supported)': NO_SINGLE_POST,
  'end-4b §Single POST: POST ?digest= whose digest does not match the body returns 400 DIGEST_INVALID and stores nothing': NO_SINGLE_POST,
  'end-4b §Single POST: POST ?digest= with a malformed digest (sha256:xyz, foo:bar) returns 400 DIGEST_INVALID': NO_SINGLE_POST,

  'end-5 §Pushing a blob in chunks: a first chunk that does not start at 0 returns 416': NO_CONTENT_RANGE_CHECK,
  'end-5 §Pushing a blob in chunks: an overlapping chunk returns 416 and GET <location> still reports the previous offset': NO_CONTENT_RANGE_CHECK,
  'end-5 §Pushing a blob in chunks (conformance): retrying the previous chunk returns 416; the upload then resumes from GET <location> and completes':
    NO_CONTENT_RANGE_CHECK,
  'end-5/end-6/end-13 §Error Codes: an unknown upload id returns 404 BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT and DELETE':
    'Distribution 2.8 answers 404 BLOB_UPLOAD_INVALID (no _state token) instead of BLOB_UPLOAD_UNKNOWN (spec code-3)',

  'end-3 §Pulling manifests (conformance): GET/HEAD of manifest ".INVALID_MANIFEST_NAME" returns 404': ROUTE_MISS_PLAIN_404,
  'end-3 §Error Codes (conformance): GET of manifest "sha256:totallywrong" returns 400 with an OCI error code, or 404':
    'Distribution 2.8 answers 500 UNKNOWN (it treats the reference as a tag and fails on the storage path); the conformance suite fails it too',
  'end-7 §Pushing Manifests: a manifest larger than 4 MiB returns 413 and is not stored':
    'Distribution 2.8.2 rejects it with 400 MANIFEST_INVALID "http: request body too large"; spec end-7: SHOULD respond 413',
  'end-7 §Pulling manifests (tag grammar): PUT with an invalid tag (".bad", "-bad", 129 characters) returns 400':
    'Distribution 2.8 answers 404 "404 page not found" (the route regexp does not match the reference)',

  'end-9 §Deleting tags: DELETE by tag returns 202; the tag is gone and the manifest remains by digest':
    'Distribution 2.8 cannot delete tags: DELETE /manifests/<tag> is 400 DIGEST_INVALID',
  'end-9 §Deleting tags (conformance): DELETE by tag returns 202, or 400 UNSUPPORTED / 405 when tag deletion is disabled':
    'Distribution 2.8 refuses tag deletion with 400 DIGEST_INVALID instead of 400 UNSUPPORTED or 405',

  '§Pulling manifests (<name> grammar): an uppercase name returns 400 NAME_INVALID or 404': ROUTE_MISS_PLAIN_404,
  '§Pulling manifests (<name> grammar): a name with a ".." path component returns 400 NAME_INVALID or 404': PATH_CLEANING_REDIRECT,
  '§Pulling manifests (<name> grammar): a name with a trailing slash or an empty component returns 400 NAME_INVALID or 404': PATH_CLEANING_REDIRECT,
  '§Pulling manifests (<name> grammar): components with misplaced separators (foo..bar, -foo, foo-, _foo) return 400 NAME_INVALID or 404':
    ROUTE_MISS_PLAIN_404,

  'end-8a §Listing Tags: returns 200 {"name","tags"} with every tag in lexical order': TAGS_UNSORTED_UNPAGED,
  'end-8b §Listing Tags: ?n=<int> returns exactly n tags and a Link rel="next" header when more exist': TAGS_UNSORTED_UNPAGED,
  'end-8b §Listing Tags: following the Link headers pages through every tag exactly once, in order': TAGS_UNSORTED_UNPAGED,
  'end-8b §Listing Tags: ?n=<int>&last=<tag> returns up to n tags strictly after <tag>': TAGS_UNSORTED_UNPAGED,
  'end-8b §Listing Tags: ?last=<tag> without n returns every tag after <tag>': TAGS_UNSORTED_UNPAGED,
  'end-8b §Listing Tags: ?n=0 returns an empty list and no Link header': TAGS_UNSORTED_UNPAGED,
  'end-8b §Listing Tags: n larger than the number of tags returns them all without a Link header': TAGS_UNSORTED_UNPAGED,

  'end-7 §Pushing Manifests with Subject: PUT of image manifests with a subject returns 201 and OCI-Subject: <subject digest>': NO_REFERRERS,
  'end-7 §Pushing Manifests with Subject: PUT of an image index with a subject returns 201 and OCI-Subject': NO_REFERRERS,
  'end-12a §Listing Referrers: GET /v2/<name>/referrers/<digest> returns 200 application/vnd.oci.image.index.v1+json listing every referrer with artifactType and annotations':
    NO_REFERRERS,
  'end-12b §Listing Referrers: ?artifactType= returns only matching referrers and sets OCI-Filters-Applied: artifactType': NO_REFERRERS,
  'end-12a §Listing Referrers: an unfiltered response carries no OCI-Filters-Applied header': NO_REFERRERS,
  'end-12a §Listing Referrers: referrers of an unknown digest is 200 with an empty index (never 404)': NO_REFERRERS,
  'end-12a §Listing Referrers (conformance): a referrer pushed before its subject is listed (OCI-Subject set on its PUT)': NO_REFERRERS,
  'end-12a §Listing Referrers: an index referrer without artifactType is listed without artifactType': NO_REFERRERS,
  'end-12a §Listing Referrers: referrers are scoped to the repository': NO_REFERRERS,
  'end-12a §Listing Referrers: a digest with invalid syntax returns 400': NO_REFERRERS,
  'end-9 §Deleting Manifests + end-12a: a deleted referrer is no longer listed': NO_REFERRERS,
};

runDistributionApiSuite('CNCF Distribution 2.8 (docker-registry)', () => startDockerRegistry(), {
  expectReferrers: true,
  expectDockerMediaTypes: true,
  knownFailures,
});
