/**
 * Built-in dialects: a field layout and wire options for each common ISO 8583 variant, written from
 * the variants' published field definitions. A bank's spec file starts from one (`"extends"`) and
 * changes what its switch does differently (see docs/iso8583.md).
 */
import {
  DEFAULT_OPTIONS, defineSpec, ISO8583_1987, resolveOptions, type FieldSpec, type Iso8583Options, type Iso8583Spec,
} from './spec.js';

/** The names a spec file's `extends` accepts. */
export const DIALECT_NAMES = ['iso8583:1987', 'iso8583:1987-binary', 'iso8583:1993', 'base24'] as const;
export type DialectName = (typeof DIALECT_NAMES)[number];

/**
 * How the mapping reads a dialect: where the merchant category code and the original data elements
 * are, the layout of the latter, which fields make a transaction's id, and the response codes sent.
 * Each is also a table a spec file can set (see `MappingTables`).
 */
export interface DialectMapping {
  /** Fields holding the MCC, first present wins. */
  mccFields: readonly number[];
  /** The original data elements of a reversal: field and layout. */
  originalData: OriginalDataLayout;
  /** What a transaction's id is built from (the parts a reversal's original data elements repeat). */
  transactionKey: TransactionKey;
  /** Field 39 values this adapter sends. */
  responseCodes: ResponseCodes;
  /** Field 39 values that mean approved in an advice. */
  approvedResponseCodes: readonly string[];
  /** Request MTIs handled, by class. */
  messageClasses: Readonly<Record<string, MessageClass>>;
}

/**
 * What a request MTI is. `financial`: a purchase or other money movement (authorisation, request,
 * advice); `completion`: an advice completing an earlier authorisation (booked under the
 * authorisation's id, so it counts once); `reversal`; `network` (answered, not booked).
 */
export type MessageClass = 'financial' | 'completion' | 'reversal' | 'network';

/** A part of the original data elements; `LL` lengths read a 2-digit length first. */
export interface OriginalDataPart {
  name: 'mti' | 'stan' | 'rrn' | 'transmission' | 'date' | 'time' | 'datetime12' | 'acquirer' | 'forwarder' | 'filler';
  length: number | 'LL';
}

export interface OriginalDataLayout {
  field: number;
  parts: readonly OriginalDataPart[];
}

/**
 * A transaction's id: `reference` is field 11 (STAN) or 37 (RRN); `time` is field 7 (`transmission`,
 * MMDDhhmmss), fields 13+12 (`local`, MMDD and hhmmss) or field 12 as YYMMDDhhmmss (`local12`, 1993);
 * `acquirer` adds field 32.
 */
export interface TransactionKey {
  reference: 'stan' | 'rrn';
  time: 'transmission' | 'local' | 'local12';
  acquirer: boolean;
}

/** Field 39 values for each answer the adapter gives. */
export interface ResponseCodes {
  approved: string;
  invalidTransaction: string;
  formatError: string;
  systemMalfunction: string;
}

/** A built-in dialect. */
export interface Dialect {
  name: DialectName;
  description: string;
  spec: Iso8583Spec;
  options: Iso8583Options;
  mapping: DialectMapping;
}

const MTI_1987: Readonly<Record<string, MessageClass>> = Object.freeze({
  '0100': 'financial', '0101': 'financial', '0120': 'financial', '0121': 'financial',
  '0200': 'financial', '0201': 'financial', '0220': 'completion', '0221': 'completion',
  '0400': 'reversal', '0401': 'reversal', '0420': 'reversal', '0421': 'reversal',
  '0800': 'network', '0801': 'network', '0820': 'network',
});

const MAPPING_1987: DialectMapping = Object.freeze({
  mccFields: [18],
  originalData: {
    field: 90,
    parts: [{ name: 'mti', length: 4 }, { name: 'stan', length: 6 }, { name: 'transmission', length: 10 }, { name: 'acquirer', length: 11 }, { name: 'forwarder', length: 11 }],
  },
  transactionKey: { reference: 'stan', time: 'transmission', acquirer: true },
  responseCodes: { approved: '00', invalidTransaction: '12', formatError: '30', systemMalfunction: '96' },
  approvedResponseCodes: ['00', '08', '10', '11', '16'],
  messageClasses: MTI_1987,
} satisfies DialectMapping);

/**
 * ISO 8583:1987 as jPOS's binary packager (ISO87BPackager) lays it out: BCD MTI, binary bitmaps,
 * fixed numerics packed BCD, LL/LLL lengths packed BCD, text in ASCII, `b` fields raw, `x+n` amounts
 * as an ASCII sign and BCD digits; field 65 is one byte, 93 is six characters, 96 is 16 bytes.
 */
function binary1987(): Iso8583Spec {
  const out: Record<number, FieldSpec> = {};
  for (const [k, f] of Object.entries(ISO8583_1987 as Record<number, FieldSpec>)) {
    const n = Number(k);
    const g: FieldSpec = { ...f };
    if (f.lengthType !== 'fixed') g.lengthEncoding = 'bcd';
    if (f.type === 'b') g.encoding = 'binary';
    else if ((f.type === 'n' && (f.lengthType !== 'LLLVAR' || n !== 36)) || f.type === 'z' || (f.type === 'xn' && f.lengthType === 'fixed')) g.encoding = 'bcd';
    if (n >= 49 && n <= 51) delete g.encoding; // currency codes travel as three ASCII characters
    out[n] = g;
  }
  const change = (n: number, changes: Partial<FieldSpec>): void => {
    const f = out[n];
    if (!f) throw new Error(`ISO8583_1987 defines no field ${n} for the binary dialect to change`);
    out[n] = { ...f, ...changes };
  };
  change(65, { length: 1 });
  change(93, { type: 'an', length: 6 });
  change(96, { length: 16 });
  return Object.freeze(out);
}

/** ISO 8583:1993 field layout, ASCII throughout (`b` fields as hex-ASCII). */
const LAYOUT_1993: Record<number, string> = {
  2: 'n..19', 3: 'n 6', 4: 'n 12', 5: 'n 12', 6: 'n 12', 7: 'n 10', 8: 'n 8', 9: 'n 8', 10: 'n 8', 11: 'n 6', 12: 'n 12', 13: 'n 4', 14: 'n 4',
  15: 'n 6', 16: 'n 4', 17: 'n 4', 18: 'n 4', 19: 'n 3', 20: 'n 3', 21: 'n 3', 22: 'an 12', 23: 'n 3', 24: 'n 3', 25: 'n 4', 26: 'n 4', 27: 'n 1',
  28: 'n 6', 29: 'n 3', 30: 'n 24', 31: 'ans..99', 32: 'n..11', 33: 'n..11', 34: 'ns..28', 35: 'z..37', 36: 'ans...104', 37: 'anp 12', 38: 'anp 6',
  39: 'n 3', 40: 'n 3', 41: 'ans 8', 42: 'ans 15', 43: 'ans..99', 44: 'ans..99', 45: 'ans..76', 46: 'ans...204', 47: 'ans...999', 48: 'ans...999',
  49: 'n 3', 50: 'n 3', 51: 'n 3', 52: 'b 64', 53: 'b..48', 54: 'ans...120', 55: 'b...255', 56: 'n..35', 57: 'n 3', 58: 'n..11', 59: 'ans...999',
  60: 'ans...999', 61: 'ans...999', 62: 'ans...999', 63: 'ans...999', 64: 'b 64', 65: 'b 64', 66: 'ans...204', 67: 'n 2', 68: 'n 3', 69: 'n 3',
  70: 'n 3', 71: 'n 8', 72: 'ans...999', 73: 'n 6', 74: 'n 10', 75: 'n 10', 76: 'n 10', 77: 'n 10', 78: 'n 10', 79: 'n 10', 80: 'n 10', 81: 'n 10',
  82: 'n 10', 83: 'n 10', 84: 'n 10', 85: 'n 10', 86: 'n 16', 87: 'n 16', 88: 'n 16', 89: 'n 16', 90: 'n 10', 91: 'n 3', 92: 'n 3', 93: 'n..11',
  94: 'n..11', 95: 'ans..99', 96: 'b...999', 97: 'x+n 16', 98: 'ans 25', 99: 'an..11', 100: 'n..11', 101: 'ans..17', 102: 'ans..28', 103: 'ans..28',
  104: 'ans...100', 105: 'n 16', 106: 'n 16', 107: 'n 10', 108: 'n 10', 109: 'ans..84', 110: 'ans..84', 128: 'b 64',
};
for (let f = 111; f <= 127; f++) LAYOUT_1993[f] = 'ans...999';

const MAPPING_1993: DialectMapping = Object.freeze({
  mccFields: [18, 26],
  originalData: {
    field: 56,
    parts: [{ name: 'mti', length: 4 }, { name: 'stan', length: 6 }, { name: 'datetime12', length: 12 }, { name: 'acquirer', length: 'LL' }],
  },
  transactionKey: { reference: 'stan', time: 'local12', acquirer: true },
  responseCodes: { approved: '000', invalidTransaction: '902', formatError: '904', systemMalfunction: '909' },
  approvedResponseCodes: ['000', '001', '002', '003', '004', '005', '006', '007'],
  messageClasses: Object.freeze({
    '1100': 'financial', '1101': 'financial', '1120': 'financial', '1121': 'financial',
    '1200': 'financial', '1201': 'financial', '1220': 'completion', '1221': 'completion',
    '1420': 'reversal', '1421': 'reversal', '1400': 'reversal', '1401': 'reversal',
    '1804': 'network', '1805': 'network', '1820': 'network',
  }),
} satisfies DialectMapping);

/**
 * A BASE24-style external message: a 12-byte header (`ISO`, product indicator, release, status,
 * originator, responder) echoed in responses, ETX (`03`) after the last field, 16-character terminal
 * ids, track 2 as text, and field 90 as BASE24 lays it out (original MTI, the 12-digit sequence number
 * of field 37, the original local date MMDD and time hhmmsshh, the posting date, filler). Transactions
 * are keyed by field 37 and the local date and time, which is what that field 90 repeats.
 */
const BASE24_FIELDS: Record<string, string> = { 35: 'ans..37', 41: 'ans 16', 48: 'ans...999', 95: 'an 42', 126: 'ans...999', 127: 'ans...999' };

const MAPPING_BASE24: DialectMapping = Object.freeze({
  ...MAPPING_1987,
  originalData: {
    field: 90,
    parts: [{ name: 'mti', length: 4 }, { name: 'rrn', length: 12 }, { name: 'date', length: 4 }, { name: 'time', length: 8 }, { name: 'filler', length: 4 }, { name: 'filler', length: 10 }],
  },
  transactionKey: { reference: 'rrn', time: 'local', acquirer: false },
} satisfies DialectMapping);

function buildDialects(): Readonly<Record<DialectName, Dialect>> {
  const base24Spec = Object.freeze({ ...(ISO8583_1987 as Record<number, FieldSpec>), ...defineSpec(BASE24_FIELDS) });
  return Object.freeze({
    'iso8583:1987': { name: 'iso8583:1987', description: 'ISO 8583:1987, ASCII MTI and fields, hex-ASCII bitmaps (the contract\'s default)', spec: ISO8583_1987, options: { ...DEFAULT_OPTIONS }, mapping: MAPPING_1987 },
    'iso8583:1987-binary': {
      name: 'iso8583:1987-binary', description: 'ISO 8583:1987 binary as jPOS\'s ISO87BPackager: BCD MTI and numerics, binary bitmaps, BCD lengths',
      spec: binary1987(), options: resolveOptions({ mtiEncoding: 'bcd', bitmapEncoding: 'binary' }), mapping: MAPPING_1987,
    },
    'iso8583:1993': { name: 'iso8583:1993', description: 'ISO 8583:1993, ASCII; action codes in field 39, original data in field 56', spec: defineSpec(LAYOUT_1993), options: { ...DEFAULT_OPTIONS }, mapping: MAPPING_1993 },
    base24: {
      name: 'base24', description: 'BASE24-style external message: 12-byte ISO header, ETX trailer, BASE24 field 90',
      spec: base24Spec, options: resolveOptions({ messageHeader: { length: 12, response: 'echo' }, trailer: '03' }), mapping: MAPPING_BASE24,
    },
  });
}

/** The built-in dialects by name. */
export const DIALECTS: Readonly<Record<DialectName, Dialect>> = buildDialects();

/** The default dialect (the contract's). */
export const DEFAULT_DIALECT: Dialect = DIALECTS['iso8583:1987'];
