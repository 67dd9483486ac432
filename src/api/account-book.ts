/**
 * The accounts a node serves, by id and by the numbers they own. Replaceable while the node runs: `mmsgate serve`
 * reads the configuration file again on SIGHUP and hands the new accounts here (cli/serve.ts), so an account can be
 * added, removed or changed (a password, an mtConfig's reportUrl, a number and its moUrl) without a restart. Every
 * lookup of an account outside the request's own authenticated account goes through one book, so no part of the node
 * keeps an old copy: webhooks, MO routing, the pipeline's "configured here" checks.
 */
import type { ApiAccount } from './context.ts';

/** Who owns a number: for MO routing (an MO to it goes to the account's moUrl). */
export interface NumberOwner {
  accountId: string;
  moUrl: string | undefined;
}

export class AccountBook {
  private byId = new Map<string, ApiAccount>();
  private owners = new Map<string, NumberOwner>();

  constructor(accounts: readonly ApiAccount[]) {
    this.replace(accounts);
  }

  /** Serve these accounts from now on (lookups already answered keep what they got). */
  replace(accounts: readonly ApiAccount[]): void {
    const byId = new Map(accounts.map((a) => [a.id, a]));
    const owners = new Map<string, NumberOwner>();
    for (const a of accounts) for (const n of a.numbers) owners.set(n.number, { accountId: a.id, moUrl: n.moUrl });
    this.byId = byId;
    this.owners = owners;
  }

  /** Every account, in configuration order. */
  all(): ApiAccount[] {
    return [...this.byId.values()];
  }

  get(accountId: string): ApiAccount | undefined {
    return this.byId.get(accountId);
  }

  /** The account owning `number` (a source or an MO's recipient), if any. */
  ownerOf(number: string): NumberOwner | undefined {
    return this.owners.get(number);
  }

  /** The reportUrl of an account's mtConfig, if both exist and it has one. */
  reportUrlFor(accountId: string, mtConfig: string): string | undefined {
    return this.byId.get(accountId)?.mtConfigs[mtConfig]?.reportUrl;
  }

  /** The moUrl of `number` while `accountId` still owns it (an MO received for one account never goes to another). */
  moUrlFor(accountId: string, number: string): string | undefined {
    const owner = this.owners.get(number);
    return owner?.accountId === accountId ? owner.moUrl : undefined;
  }

  /** The account's webhook signing secrets (none: unsigned). */
  secretsFor(accountId: string): readonly string[] {
    return this.byId.get(accountId)?.webhookSecrets ?? [];
  }

  hasMtConfig(accountId: string, mtConfig: string): boolean {
    return Object.hasOwn(this.byId.get(accountId)?.mtConfigs ?? {}, mtConfig);
  }
}
