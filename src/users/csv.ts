/**
 * A small RFC 4180 CSV reader: comma-separated, fields may be "quoted" ("" escapes a quote; quoted
 * fields may hold commas and newlines), CRLF or LF line ends. Yields each record with the line number
 * it starts on, so errors can name the line an admin sees in their editor.
 */
export interface CsvRecord {
  readonly line: number;
  readonly fields: string[];
}

export class CsvError extends Error {
  override name = 'CsvError';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

export function* parseCsv(text: string): Generator<CsvRecord> {
  let i = 0;
  let line = 1;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // a UTF-8 byte order mark from spreadsheet exports
  while (i < text.length) {
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    for (;;) {
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) throw new CsvError(startLine, 'unterminated quoted field');
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          throw new CsvError(startLine, 'unexpected character after a quoted field');
        }
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          if (text[i] === '"') throw new CsvError(startLine, 'a quote inside an unquoted field');
          field += text[i++];
        }
      }
      fields.push(field);
      field = '';
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    if (!(fields.length === 1 && fields[0] === '')) yield { line: startLine, fields }; // blank lines are skipped
  }
}
