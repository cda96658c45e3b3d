import { expect } from 'chai';
import { displayUrl, formatAgo, formatMs, formatValue } from '../../dashboard/src/format.js';

describe('dashboard text formatting', () => {
  it('shows numbers with precision that suits their size, and integers as they are', () => {
    expect([formatValue(21.5432), formatValue(0.01234), formatValue(1234.56), formatValue(97)]).to.deep.equal(['21.54', '0.012', '1234.6', '97']);
  });

  it('shortens long strings and objects instead of stretching the card', () => {
    expect(formatValue('x'.repeat(100))).to.have.length(40);
    expect(formatValue({ nested: { deeply: 'x'.repeat(50) } })).to.match(/…$/);
  });

  it('says how long ago in the largest sensible unit', () => {
    expect([formatAgo(300), formatAgo(4_200), formatAgo(190_000), formatAgo(7_300_000)]).to.deep.equal(['now', '4 s ago', '3 min ago', '2 h ago']);
  });

  it('shows latencies in ms below a second and in seconds above', () => {
    expect([formatMs(12.4), formatMs(-3), formatMs(1_460), formatMs(12_000)]).to.deep.equal(['12 ms', '-3 ms', '1.5 s', '12 s']);
  });

  it('never shows the token in a url', () => {
    expect(displayUrl('wss://abc.execute-api.eu-west-1.amazonaws.com/prod?token=secret')).to.equal('wss://abc.execute-api.eu-west-1.amazonaws.com/prod');
  });
});
