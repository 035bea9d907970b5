import type { ReasonCode, Verdict } from '../verification/verdict';

/**
 * The consumer pages' words, in Chinese (the default: the products are sold in China) and English.
 * Reasons are translated from their stable codes, never from the API's English messages.
 */
export type Lang = 'zh' | 'en';

/**
 * `?lang=` wins; otherwise English when the browser prefers English to Chinese (RFC 9110 section
 * 12.5.4 Accept-Language, q-values honoured), else Chinese.
 */
export function pickLang(query: string | undefined, acceptLanguage: string | undefined): Lang {
  if (query === 'en' || query === 'zh') return query;
  if (!acceptLanguage) return 'zh';
  let best: { lang: Lang; q: number } | undefined;
  for (const part of acceptLanguage.split(',').slice(0, 20)) {
    const [tag = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.find((p) => p.trim().startsWith('q='));
    const q = qParam ? Number(qParam.trim().slice(2)) : 1;
    if (!Number.isFinite(q) || q <= 0) continue;
    const lang: Lang | undefined = tag.startsWith('en')
      ? 'en'
      : tag.startsWith('zh')
        ? 'zh'
        : undefined;
    if (lang && (!best || q > best.q)) best = { lang, q };
  }
  return best?.lang ?? 'zh';
}

export const verdictWords: Record<Verdict, Record<Lang, { title: string; sentence: string }>> = {
  authentic: {
    zh: { title: '正品', sentence: '该标志真实有效：由认证机构签发，并在登记册中。' },
    en: {
      title: 'Genuine',
      sentence: 'This mark is genuine: issued by the certification body and in the registry.',
    },
  },
  forged: {
    zh: {
      title: '伪造',
      sentence:
        '无法证实该标志由认证机构签发：签名不属于已公布的密钥，或不在登记册中。请勿信任，可在下方举报。',
    },
    en: {
      title: 'Forged',
      sentence:
        'Nothing shows that a certification body issued this mark: its signature is not by a published key, or it is not in the registry. Do not trust it; you can report it below.',
    },
  },
  misused: {
    zh: { title: '冒用', sentence: '证书真实，但被用于其不覆盖的产品或由非持证企业使用。' },
    en: {
      title: 'Misused',
      sentence:
        'The certificate is real, but it is used for a product it does not cover or by a company that does not hold it.',
    },
  },
  invalid: {
    zh: { title: '无效', sentence: '该标志或其证书已失效（过期、暂停、撤销或作废）。' },
    en: {
      title: 'Invalid',
      sentence:
        'This mark or its certificate is no longer valid (expired, suspended, revoked or voided).',
    },
  },
  suspicious: {
    zh: {
      title: '可疑',
      sentence: '该标志被查验的次数或地点异常，可能被复制。请核对首次查验记录。',
    },
    en: {
      title: 'Suspicious',
      sentence:
        'This mark has been checked unusually often or in places far apart: it may have been copied. Compare the first check below.',
    },
  },
};

/**
 * The banner of a certificate's page (`/c/{id}`, its QR code's link): it speaks of a certificate,
 * not of a product's mark.
 */
export const certificateVerdictWords: Record<
  Verdict,
  Record<Lang, { title: string; sentence: string }>
> = {
  authentic: {
    zh: { title: '真实有效', sentence: '该证书真实有效：由认证机构签发，并在登记册中。' },
    en: {
      title: 'Genuine',
      sentence:
        'This certificate is genuine and valid: issued by the certification body and in the registry.',
    },
  },
  forged: {
    zh: {
      title: '伪造',
      sentence:
        '无法证实该证书由认证机构签发：签名不属于已公布的密钥，或不在登记册中。请勿信任，可在下方举报。',
    },
    en: {
      title: 'Forged',
      sentence:
        'Nothing shows that a certification body issued this certificate: its signature is not by a published key, or it is not in the registry. Do not trust it; you can report it below.',
    },
  },
  misused: {
    zh: { title: '冒用', sentence: '证书真实，但被用于其不覆盖的产品或由非持证企业使用。' },
    en: {
      title: 'Misused',
      sentence:
        'The certificate is real, but it is used for a product it does not cover or by a company that does not hold it.',
    },
  },
  invalid: {
    zh: {
      title: '无效',
      sentence: '该证书已失效（过期、暂停、撤销或注销），或其认证机构已被暂停。',
    },
    en: {
      title: 'Invalid',
      sentence:
        'This certificate is no longer valid (expired, suspended, revoked or withdrawn), or its certification body is suspended.',
    },
  },
  suspicious: {
    zh: { title: '可疑', sentence: '该证书的使用情况异常，请谨慎核对，可在下方举报。' },
    en: {
      title: 'Suspicious',
      sentence:
        'This certificate’s use looks unusual: check it with care; you can report it below.',
    },
  },
};

export const reasonWords: Record<ReasonCode, Record<Lang, string>> = {
  MALFORMED: {
    zh: '这不是有效的认证标志或证书。',
    en: 'This is not a valid certification mark or certificate.',
  },
  BAD_SIGNATURE: { zh: '数字签名不正确。', en: 'The digital signature is not correct.' },
  UNKNOWN_KEY: {
    zh: '签名密钥不是已公布的认证机构密钥（或已被撤回）。',
    en: 'The signing key is not a published certification body key (or was withdrawn).',
  },
  UNKNOWN_ISSUER: { zh: '签发机构不明。', en: 'The issuer is unknown.' },
  NOT_IN_REGISTRY: { zh: '登记册中没有此记录。', en: 'There is no such record in the registry.' },
  REGISTRY_MISMATCH: {
    zh: '内容与登记册记录不符。',
    en: 'The content does not match the registry record.',
  },
  HOLDER_MISMATCH: {
    zh: '出示者不是证书持有人、制造商或生产厂。',
    en: 'The presenter is not the holder, manufacturer or a factory of the certificate.',
  },
  OUT_OF_SCOPE: {
    zh: '该产品型号不在证书范围内，或不是该标志对应的型号。',
    en: 'The product model is not covered by the certificate, or is not the model this mark was issued for.',
  },
  NOT_YET_VALID: { zh: '证书尚未生效。', en: 'The certificate is not valid yet.' },
  EXPIRED: { zh: '证书已过期。', en: 'The certificate has expired.' },
  SUSPENDED: { zh: '证书已被暂停。', en: 'The certificate is suspended.' },
  REVOKED: { zh: '证书已被撤销。', en: 'The certificate is revoked.' },
  WITHDRAWN: { zh: '证书已被注销。', en: 'The certificate is withdrawn.' },
  ISSUER_SUSPENDED: { zh: '认证机构已被暂停。', en: 'The certification body is suspended.' },
  MARK_VOID: {
    zh: '该标志已被认证机构作废（销毁、召回或遗失）。',
    en: 'The certification body has voided this mark (destroyed, recalled or lost).',
  },
  QUANTITY_EXHAUSTED: { zh: '免办数量已用完。', en: 'The exempted quantity is used up.' },
  SUSPECTED_CLONE: {
    zh: '该标志查验次数过多或在相距很远的地点被查验，疑似被复制。',
    en: 'This mark was checked too many times or in places far apart: it is suspected to be copied.',
  },
};

export const statusWords: Record<string, Record<Lang, string>> = {
  valid: { zh: '有效', en: 'valid' },
  expired: { zh: '已过期', en: 'expired' },
  not_yet_valid: { zh: '尚未生效', en: 'not yet valid' },
  suspended: { zh: '暂停', en: 'suspended' },
  revoked: { zh: '撤销', en: 'revoked' },
  withdrawn: { zh: '注销', en: 'withdrawn' },
  active: { zh: '有效', en: 'active' },
  void: { zh: '已作废', en: 'void' },
};

export const ui = {
  zh: {
    langName: '中文',
    markTitle: '认证标志查验',
    certificateTitle: '认证证书查验',
    reasons: '原因',
    certificate: '证书',
    number: '证书编号',
    scheme: '认证类别',
    holder: '持证企业',
    scope: '认证范围',
    issuer: '认证机构',
    validity: '有效期',
    status: '证书状态',
    statusSince: '自',
    statusSinceEnd: '起',
    statusReason: '原因：',
    issuerSuspendedNote: '其认证机构已被暂停',
    mark: '本标志',
    serial: '序列号',
    model: '型号',
    lot: '批次',
    markStatus: '标志状态',
    scanCount: '查验次数',
    firstScan: '首次查验',
    firstScanNone: '这是首次查验',
    firstScanHint: '如果您刚买到此产品，却看到更早的查验记录，该标志可能被复制。',
    unknownPlace: '地点未知',
    report: '举报可疑产品',
    reportHelp: '发现假冒或可疑产品？请描述情况，市场监管部门会收到您的举报。',
    reportNeedsScript: '举报需要启用浏览器的 JavaScript。',
    description: '情况描述',
    region: '所在地区代码（可选，如 350100）',
    send: '提交举报',
    sent: '已收到您的举报，谢谢。',
    sendFailed: '提交失败，请稍后再试。',
    sendInvalid: '提交失败：请检查地区代码（6 位行政区划代码，如 350100）和填写的内容后再提交。',
    checkedAt: '查验时间',
    typoTitle: '序列号有误',
    typoSentence: '序列号的校验位不对，可能是输入错误。请对照标签重新输入。',
    busyTitle: '请稍后再试',
    busySentence: '此网络地址的查验请求过多。请稍候再打开此页面。',
    busyWait: '请等待',
    seconds: '秒',
    busyRetry: '重新打开',
    to: '至',
    lookupTitle: '查验',
    lookupSentence: '输入产品标签上的序列号（16 位数字），或证书编号。',
    lookupSerial: '标签上的序列号或标志链接',
    lookupNumber: '证书编号',
    lookupCheck: '查验',
    lookupSeveral: '多家认证机构使用这个证书编号：请扫描证书上的二维码查验。',
    lookupOffline: '没有网络？使用离线核验',
    offlineTitle: '离线核验',
    offlineSentence:
      '在本浏览器中核验标志和证书凭证的签名、状态和有效期，无需联网。保存此页面即可离线使用。',
    offlineInput: '标志网址或代码（扫描二维码所得），或证书凭证',
    offlineCheck: '核验',
    offlineKeys: '已载入的认证机构公钥',
    offlineKeysAsOf: '公钥截至',
    offlineLimits:
      '离线核验依据本页所带数据包中的公钥和状态列表；标志所属证书的当前状态、标志是否被复制，请联网后再查验。数据包过期后，状态显示为“状态未知”（已作废的标志、已撤销的证书仍显示无效）。',
    offlineValidTitle: '证书有效',
    offlineValidSentence: '签名真实，截至数据包时间未被撤销或暂停：',
    offlineUnknownTitle: '状态未知',
    offlineUnknownSentence:
      '签名真实，但本页的状态信息已过期或未涵盖此项，无法确定是否已被撤销、暂停或作废。请联网核验。',
    offlineNotCoveredSentence:
      '本页的数据包不包含此签发机构的公钥。请载入包含该机构的数据包，或联网查验。',
    offlineBadBundle: '数据包无效',
    offlineBadBundleSentence: '这个文件不是本服务签发、未经改动的离线数据包，未载入。',
    offlineNoScript:
      '此页面的核验程序没有运行：浏览器禁用了脚本，或这是不带脚本的保存副本（如 MHTML 或“下载网页”）。请在浏览器中打开，或另存为“网页，全部”或“网页，仅 HTML”。',
    offlineOlderBundle: '这个数据包比正在使用的旧，未载入。正在使用的数据包截至',
    offlineRevoked: '证书已被撤销或注销。',
    offlineSuspended: '证书已被暂停（或其认证机构已被暂停）。',
    offlineStatusAsOf: '状态信息截至',
    offlineAgo: '前',
    offlineFreshUntil: '有效至',
    offlineStale: '已超过时限：状态未知',
    offlineClockBehind: '本机时钟早于数据包的生成时间：已按数据包的时间核验，请校正时钟。',
    offlineLoadBundle: '载入较新的离线数据包（certmark bundle 保存的文件）',
    offlineGenuineTitle: '签名真实',
    offlineGenuineSentence: '此标志由以下认证机构签发：',
    offlineGenuineCaveat:
      '离线只核验标志的签名、是否作废、其认证机构是否被暂停；其证书当前是否有效、标志是否被复制，请联网核验。',
    offlineSerialTitle: '无法离线核验',
    offlineSerialSentence: '手工输入的序列号没有签名，无法离线核验。请扫描二维码，或联网查验。',
    offlineLinkSentence:
      '这是证书的链接，没有签名，无法离线核验。请联网打开，页面会显示登记册中的证书。',
  },
  en: {
    langName: 'English',
    markTitle: 'Certification mark check',
    certificateTitle: 'Certificate check',
    reasons: 'Why',
    certificate: 'Certificate',
    number: 'Number',
    scheme: 'Scheme',
    holder: 'Holder',
    scope: 'Scope',
    issuer: 'Certification body',
    validity: 'Valid',
    status: 'Status',
    statusSince: 'since',
    statusSinceEnd: '',
    statusReason: 'reason: ',
    issuerSuspendedNote: 'its certification body is suspended',
    mark: 'This mark',
    serial: 'Serial',
    model: 'Model',
    lot: 'Lot',
    markStatus: 'Mark status',
    scanCount: 'Times checked',
    firstScan: 'First checked',
    firstScanNone: 'This is the first check',
    firstScanHint:
      'If you just bought this product and see an earlier check, the mark may have been copied.',
    unknownPlace: 'place unknown',
    report: 'Report a suspicious product',
    reportHelp:
      'Found a fake or suspicious product? Describe it and market regulators will receive your report.',
    reportNeedsScript: 'Reporting needs JavaScript switched on in your browser.',
    description: 'What you found',
    region: 'Region code (optional, e.g. 350100)',
    send: 'Send report',
    sent: 'Thank you, your report has been received.',
    sendFailed: 'The report could not be sent; please try again later.',
    sendInvalid:
      'The report was not accepted: check the region code (a six-digit division code, such as 350100) and what you wrote, then send it again.',
    checkedAt: 'Checked at',
    typoTitle: 'Serial mistyped',
    typoSentence:
      'The serial’s check digits do not match: it was probably mistyped. Please compare it with the label.',
    busyTitle: 'Please try again shortly',
    busySentence:
      'Too many requests have come from this network address. Please wait a moment and open this page again.',
    busyWait: 'Wait',
    seconds: 's',
    busyRetry: 'Open again',
    to: 'to',
    lookupTitle: 'Check',
    lookupSentence:
      'Type the serial on the product’s label (16 digits), or a certificate’s number.',
    lookupSerial: 'Serial on the label, or the mark’s link',
    lookupNumber: 'Certificate number',
    lookupCheck: 'Check',
    lookupSeveral:
      'Several certification bodies use this certificate number: scan the QR code on the certificate to check it.',
    lookupOffline: 'No network? Use the offline check',
    offlineTitle: 'Offline check',
    offlineSentence:
      'Checks a mark’s or a certificate credential’s signature, status and dates in this browser, with no network. Save this page to use it offline.',
    offlineInput: 'The mark’s URL or code (what its QR code holds), or a certificate credential',
    offlineCheck: 'Check',
    offlineKeys: 'Certification body keys on this page',
    offlineKeysAsOf: 'keys as of',
    offlineLimits:
      'Offline, answers come from the keys and status lists of the bundle this page carries; the current status of a mark’s certificate, and whether a mark was copied, need an online check. Once the bundle is too old, status is shown as unknown (a voided mark or a revoked certificate still shows as invalid).',
    offlineValidTitle: 'Valid certificate',
    offlineValidSentence: 'Genuine signature, not revoked or suspended as of the bundle:',
    offlineUnknownTitle: 'Status unknown',
    offlineUnknownSentence:
      'The signature is genuine, but this page’s status information is too old or does not cover it, so whether it was revoked, suspended or voided is not known. Check online.',
    offlineNotCoveredSentence:
      'This page’s bundle does not hold this issuer’s keys. Load a bundle that does, or check online.',
    offlineBadBundle: 'Bundle refused',
    offlineBadBundleSentence:
      'This file is not an unaltered offline bundle of this service; it was not loaded.',
    offlineNoScript:
      'The checker on this page is not running: scripts are off, or this is a saved copy without them (MHTML, a phone’s “download page”). Open it in a browser, or save it as “Webpage, Complete” or “Webpage, HTML Only”.',
    offlineOlderBundle:
      'This bundle is older than the one in use, so it was not loaded. The one in use is as of',
    offlineRevoked: 'The certificate is revoked or withdrawn.',
    offlineSuspended: 'The certificate is suspended (or its certification body is).',
    offlineStatusAsOf: 'status information as of',
    offlineAgo: ' old',
    offlineFreshUntil: 'fresh until',
    offlineStale: 'past its limit: status unknown',
    offlineClockBehind:
      'This device’s clock reads earlier than the bundle was made: judged as of the bundle’s time. Set the clock right.',
    offlineLoadBundle: 'Load a newer offline bundle (a file saved by certmark bundle)',
    offlineGenuineTitle: 'Genuine signature',
    offlineGenuineSentence: 'This mark was issued by:',
    offlineGenuineCaveat:
      'Offline, only the mark’s signature, whether it was voided and whether its certification body is suspended are checked; whether its certificate is still valid, and whether the mark was copied, need an online check.',
    offlineSerialTitle: 'Cannot check offline',
    offlineSerialSentence:
      'A typed serial carries no signature, so it cannot be checked offline. Scan the QR code, or check online.',
    offlineLinkSentence:
      'This is a certificate’s link: it carries no signature and cannot be checked offline. Open it online, where its page shows the certificate from the registry.',
  },
} as const satisfies Record<Lang, Record<string, string>>;

export type UiWords = (typeof ui)[Lang];
