import { vmSizeCores } from './vm-sizes';

describe('vmSizeCores', () => {
  it.each([
    ['Standard_D4as_v5', 4],
    ['Standard_D16as_v5', 16],
    ['standard_d2s_v3', 2],
    ['Standard_F72s_v2', 72],
    ['Standard_E8-4s_v5', 8],
    ['Standard_HB120rs_v3', 120],
    ['Standard_NC6', 6],
    ['Standard_NC24ads_A100_v4', 24],
    ['Standard_M128ms', 128],
    ['Standard_A4', 8],
    ['Standard_A4_v2', 4],
    ['Standard_A8m_v2', 8],
    ['Basic_A1', 1],
    ['Standard_D1', 1],
    ['Standard_D11_v2', 2],
    ['Standard_DS12_v2', 4],
    ['Standard_D15_v2', 20],
    ['Standard_GS5', 32],
  ])('GIVEN %s WHEN sized THEN %i vCPUs', (size, cores) => {
    expect(vmSizeCores(size)).toBe(cores);
  });

  it.each([['local'], [''], ['x'], ['Standard_'], ['standard_d0s_v3']])(
    'GIVEN %j, not an Azure size WHEN sized THEN undefined',
    (size) => {
      expect(vmSizeCores(size)).toBeUndefined();
    },
  );
});
