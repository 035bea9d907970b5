export * from './issuers';
export * from './issuer-status-events';
export * from './signing-keys';
export * from './api-keys';
export * from './certificates';
export * from './certificate-status-events';
export * from './audit-log';
