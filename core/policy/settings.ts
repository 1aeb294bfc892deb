/**
 * The settings policy: service name, description, version and debug flag, set by governance.
 *
 * Stored under `public:ccf.gov.policies.settings`; the seed's proposal argument
 * `{settings_policy: {service: {...}}}` and the flat form of its sample file
 * `{settings_policy: {name, description, version, debug}}` are both accepted.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as t from "io-ts";
import { boundedString, closed, decodeWith, versioned } from "../codec.ts";
import type { KmsError } from "../errors.ts";

const Service = closed({
  name: boundedString("name", 256),
  description: boundedString("description", 1024),
  version: boundedString("version", 64),
  debug: t.boolean,
});

/** Codec of the settings policy value. */
export const Settings = closed({ service: Service });
/** The settings policy. */
export type Settings = t.TypeOf<typeof Settings>;

/** The settings in force before any proposal sets them. */
const defaultSettings: Settings = {
  service: {
    name: "transparent-kms",
    description: "Transparent key management service for confidential inferencing",
    version: "1.0.0",
    debug: false,
  },
};

const SettingsArgs = closed({
  settings_policy: t.union([Settings, Service]),
});

/** Decodes the `set_settings_policy` governance argument into normalised settings. */
export const decodeSettingsArgs = (
  args: unknown,
): E.Either<KmsError, Settings> =>
  pipe(
    args,
    decodeWith(SettingsArgs, "set_settings_policy argument"),
    E.map(({ settings_policy: p }) => ("service" in p ? p : { service: p })),
  );

/** Codec of the stored settings with their version. */
export const StoredSettings = versioned(Settings);
/** The stored settings with their version. */
export type StoredSettings = t.TypeOf<typeof StoredSettings>;
/** What is in force before governance sets the settings: the defaults, version 0. */
export const initialSettings: StoredSettings = { version: 0, policy: defaultSettings };
