/**
 * CCF's governance and internal tables as the sandbox stores them (CCF's documentation, Audit: built-in maps;
 * §6): the node reads them to authenticate and to load the app, governance writes them. Keys are
 * UTF-8 strings unless noted; values are the byte forms listed here.
 */

/** Member certificates: key = member id (hex SHA-256 of the cert DER), value = PEM bytes. */
export const membersCerts = "public:ccf.gov.members.certs";
/** Member info: key = member id, value = JSON {@link MemberInfo}. */
export const membersInfo = "public:ccf.gov.members.info";
/** User certificates: key = user id, value = PEM bytes. */
export const usersCerts = "public:ccf.gov.users.certs";
/** User info: key = user id, value = JSON `{user_data?}`. */
export const usersInfo = "public:ccf.gov.users.info";

/**
 * JWT issuers: key = issuer, value = JSON of the `set_jwt_issuer` arguments without `jwks`
 * (`{issuer, auto_refresh?, ca_cert_bundle_name?, key_filter?, ...}`).
 */
export const jwtIssuers = "public:ccf.gov.jwt.issuers";
/**
 * JWT signing keys (CCF 6 form): key = kid, value = JSON array of {@link JwtSigningKey}, one per
 * issuer that published that kid.
 */
export const jwtSigningKeys = "public:ccf.gov.jwt.public_signing_keys_metadata_v2";
/** CA certificate bundles: key = name, value = JSON string of the PEM bundle. */
export const caCertBundles = "public:ccf.gov.tls.ca_cert_bundles";

/** App modules: key = "/" + module name, value = UTF-8 source. */
export const modules = "public:ccf.gov.modules";
/** App endpoints: key = "<METHOD> <path>" (e.g. `GET /listpubkeys`), value = JSON properties. */
export const endpoints = "public:ccf.gov.endpoints";
/** JS runtime options: singleton (key = 8 zero bytes), value = JSON. */
export const jsRuntimeOptions = "public:ccf.gov.js_runtime_options";

/** The constitution: singleton (key = 8 zero bytes), value = JSON string of the module source. */
export const constitution = "public:ccf.gov.constitution";
/** Proposals: key = proposal id, value = the proposal body bytes. */
export const proposals = "public:ccf.gov.proposals";
/** Proposal state: key = proposal id, value = JSON {@link ProposalInfo}. */
export const proposalsInfo = "public:ccf.gov.proposals_info";
/** Service info: singleton (key = 8 zero bytes), value = JSON `{cert, status: "Open"}`. */
export const serviceInfo = "public:ccf.gov.service.info";
/** Node info: key = node id (hex SHA-256 of its public key), value = JSON `NodeInfo`. */
export const nodesInfo = "public:ccf.gov.nodes.info";
/** Node certificates endorsed by the service identity: key = node id, value = PEM bytes. */
export const nodesEndorsedCertificates = "public:ccf.gov.nodes.endorsed_certificates";
/** Signature transactions (written by the node): singleton, value = JSON signature record. */
export const signatures = "public:ccf.internal.signatures";

/** The key of singleton tables. */
export const singletonKey = new Uint8Array(8);

/** A member's status and data. */
export interface MemberInfo {
  readonly status: "Accepted" | "Active";
  readonly member_data?: unknown;
  readonly recovery_role?: "NonParticipant" | "Participant" | "Owner";
}

/** One trusted signing key of a JWT issuer. */
export interface JwtSigningKey {
  /** Base64 of the DER SubjectPublicKeyInfo. */
  readonly public_key: string;
  readonly issuer: string;
  readonly constraint?: string;
}

/** A proposal's state as governance keeps it. */
export interface ProposalInfo {
  readonly proposer_id: string;
  readonly state: "Open" | "Accepted" | "Withdrawn" | "Rejected" | "Failed" | "Dropped";
  readonly ballots: Readonly<Record<string, string>>;
  readonly final_votes?: Readonly<Record<string, boolean>>;
  readonly vote_failures?: Readonly<Record<string, unknown>>;
  readonly failure?: { readonly reason: string; readonly trace?: string };
}
