/**
 * Lifecycle thresholds and value assumptions (`config/lifecycle.yaml`): schema and validation with errors
 * that name the line. Pure: the text comes in, the compiled config goes out; reading the file (the
 * shipped one is the default) is `config/policy.ts`'s job.
 */
import { Type, type Static } from '@sinclair/typebox';
import { parseYamlConfig, type Path, type YamlConfigOptions } from './yaml-config.js';
import { ConfigError } from './config-error.js';
import { DAY_MS } from './calendar.js';

const YAML_OPTIONS: YamlConfigOptions = { withDescription: true };

const Days = (description: string) => Type.Integer({ minimum: 1, maximum: 3650, description });
const Prob = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });
const NonNeg = (description: string) => Type.Number({ minimum: 0, description });

export const LifecycleFileSchema = Type.Object({
  version: Type.String({ minLength: 1, maxLength: 64 }),
  description: Type.Optional(Type.String()),
  stages: Type.Object({
    welcome_days: Days('tenure below this: welcome'),
    getting_acquainted_days: Days('tenure below this: getting acquainted'),
    potential_separation_days: Days('days without a transaction: potential separation'),
    separation_days: Days('days without a transaction: separation'),
    win_back_days: Days('days a returning customer stays in win-back'),
    intensive_care: Type.Object({
      enter_probability: Prob('churn probability at or above which a customer enters intensive care'),
      exit_probability: Prob('churn probability below which a customer leaves intensive care'),
      declines_30d: Type.Integer({ minimum: 1, description: 'declined transactions in 30 days that put a customer in intensive care' }),
      open_complaints: Type.Integer({ minimum: 1, description: 'open complaints that put a customer in intensive care' }),
      min_days: Type.Integer({ minimum: 0, maximum: 3650, description: 'days a customer stays in intensive care at least (no flapping)' }),
    }, { additionalProperties: false }),
  }, { additionalProperties: false }),
  value: Type.Object({
    minor_per_major: Type.Number({ exclusiveMinimum: 0, description: 'minor units per major unit of the currency (1 for IRR in rials)' }),
    horizon_months: Type.Integer({ minimum: 1, maximum: 600 }),
    annual_discount_rate: NonNeg('annual discount rate, e.g. 0.2'),
    first_year_annual_churn: Type.Number({ minimum: 0, exclusiveMaximum: 1 }),
    established_annual_churn: Type.Number({ minimum: 0, exclusiveMaximum: 1 }),
    spend_margin: NonNeg('revenue per unit of outgoing spend (interchange, fees)'),
    inflow_margin: NonNeg('monthly revenue per unit of monthly deposits (float and interest margin)'),
    product_margin_per_month: NonNeg('monthly revenue per sticky product held, major units'),
  }, { additionalProperties: false }),
}, { additionalProperties: false });

export type LifecycleFile = Static<typeof LifecycleFileSchema>;

/** The compiled configuration the core uses (durations in ms). */
export interface LifecycleConfig {
  version: string;
  welcomeMs: number;
  acquaintedMs: number;
  potentialMs: number;
  separationMs: number;
  winBackMs: number;
  intensive: { enter: number; exit: number; declines30d: number; openComplaints: number; minMs: number };
  value: {
    minorPerMajor: number;
    horizonMonths: number;
    annualDiscount: number;
    firstYearChurn: number;
    establishedChurn: number;
    spendMargin: number;
    inflowMargin: number;
    productMargin: number;
  };
}

/** An invalid lifecycle file: every problem with its line (see `ConfigError`). */
export class LifecycleConfigError extends ConfigError {
  override readonly name: string = 'LifecycleConfigError';
}

/** Cross-field checks of a schema-valid file. */
function crossCheck(f: LifecycleFile): { path: Path; message: string }[] {
  const out: { path: Path; message: string }[] = [];
  const s = f.stages;
  if (s.getting_acquainted_days <= s.welcome_days) {
    out.push({ path: ['stages', 'getting_acquainted_days'], message: `must be greater than welcome_days (${s.welcome_days})` });
  }
  if (s.separation_days <= s.potential_separation_days) {
    out.push({ path: ['stages', 'separation_days'], message: `must be greater than potential_separation_days (${s.potential_separation_days})` });
  }
  if (s.intensive_care.exit_probability > s.intensive_care.enter_probability) {
    out.push({ path: ['stages', 'intensive_care', 'exit_probability'], message: `must not exceed enter_probability (${s.intensive_care.enter_probability})` });
  }
  return out;
}

function compile(f: LifecycleFile): LifecycleConfig {
  const s = f.stages;
  const v = f.value;
  return {
    version: f.version,
    welcomeMs: s.welcome_days * DAY_MS,
    acquaintedMs: s.getting_acquainted_days * DAY_MS,
    potentialMs: s.potential_separation_days * DAY_MS,
    separationMs: s.separation_days * DAY_MS,
    winBackMs: s.win_back_days * DAY_MS,
    intensive: {
      enter: s.intensive_care.enter_probability, exit: s.intensive_care.exit_probability,
      declines30d: s.intensive_care.declines_30d, openComplaints: s.intensive_care.open_complaints,
      minMs: s.intensive_care.min_days * DAY_MS,
    },
    value: {
      minorPerMajor: v.minor_per_major, horizonMonths: v.horizon_months, annualDiscount: v.annual_discount_rate,
      firstYearChurn: v.first_year_annual_churn, establishedChurn: v.established_annual_churn, spendMargin: v.spend_margin,
      inflowMargin: v.inflow_margin, productMargin: v.product_margin_per_month,
    },
  };
}

/**
 * Parses and validates `config/lifecycle.yaml` text. Throws {@link LifecycleConfigError} listing every
 * problem with its line, column and path.
 */
export function parseLifecycleConfig(text: string, source = 'lifecycle.yaml'): LifecycleConfig {
  const parsed = parseYamlConfig(text, LifecycleFileSchema, YAML_OPTIONS);
  if (!parsed.ok) throw new LifecycleConfigError(source, parsed.issues);
  const raw = parsed.value;
  const at = parsed.at;
  const problems = crossCheck(raw);
  if (problems.length) throw new LifecycleConfigError(source, problems.map((p) => at(p.path, p.message)));
  return compile(raw);
}
