/**
 * `npm run user -- <command> ... --stack <name> [--region <region>]`: the people
 * of an AuthMode=cognito stack, through the Cognito admin API.
 *
 *   add <email> --devices dev-1,dev-2|'*' [--publish]   creates (Cognito e-mails an invitation) or updates, and sets the scope
 *   set-devices <email> --devices ...                    replaces the device groups, leaves publish alone
 *   list                                                 every user with status and scope
 *   remove <email>                                       deletes the user
 *
 * Scope is group membership (layers/shared/src/cognitoAuth.ts): devices:<id>,
 * devices:*, publish. Missing device groups are created. The same groups are
 * visible and editable in the Cognito console.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminListGroupsForUserCommand,
  AdminRemoveUserFromGroupCommand,
  AdminUpdateUserAttributesCommand,
  CognitoIdentityProviderClient,
  CreateGroupCommand,
  ListUsersCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { DEVICE_GROUP_PREFIX, PUBLISH_GROUP } from '@serverless-iot-dashboard/shared';
import { ALL_DEVICES, DEVICE_ID_PATTERN, type DeviceSelection } from '@serverless-iot-dashboard/shared';

export class UserCommandError extends Error {
  override name = 'UserCommandError';
}

export const USAGE = `usage: npm run user -- add <email> --devices dev-1,dev-2|'*' [--publish] --stack <name> [--region <region>]
       npm run user -- set-devices <email> --devices dev-1,dev-2|'*' --stack <name>
       npm run user -- list --stack <name>
       npm run user -- remove <email> --stack <name>`;

export interface Clients {
  cloudFormation: CloudFormationClient;
  cognito: CognitoIdentityProviderClient;
}

/** The stack's user pool, or a clear reason why there is none. */
export const userPoolOf = async (stackName: string, cloudFormation: CloudFormationClient): Promise<string> => {
  let stack;
  try {
    stack = (await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (error) {
    if ((error as Error).name === 'ValidationError' && /does not exist/.test((error as Error).message)) {
      throw new UserCommandError(`no such stack: ${stackName} (check --stack and --region)`);
    }
    throw error;
  }
  if (!stack) throw new UserCommandError(`no such stack: ${stackName} (check --stack and --region)`);
  const mode = stack.Parameters?.find((p) => p.ParameterKey === 'AuthMode')?.ParameterValue;
  const pool = stack.Outputs?.find((o) => o.OutputKey === 'UserPoolId')?.OutputValue;
  if (!pool) {
    throw new UserCommandError(
      `stack ${stackName} is not in cognito mode (AuthMode=${mode ?? 'unknown'}): deploy it with --parameter-overrides AuthMode=cognito CognitoDomainPrefix=<prefix> to manage users here${mode === 'secret' ? ', or sign tokens with npm run token -- --stack ' + stackName : ''}`,
    );
  }
  return pool;
};

const deviceGroups = (devices: DeviceSelection): string[] => (devices === ALL_DEVICES ? [`${DEVICE_GROUP_PREFIX}*`] : devices.map((d) => `${DEVICE_GROUP_PREFIX}${d}`));

const groupsOf = async (cognito: CognitoIdentityProviderClient, pool: string, username: string): Promise<string[]> => {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await cognito.send(new AdminListGroupsForUserCommand({ UserPoolId: pool, Username: username, NextToken: token }));
    names.push(...(page.Groups ?? []).map((g) => g.GroupName as string));
    token = page.NextToken;
  } while (token);
  return names;
};

const ensureGroup = async (cognito: CognitoIdentityProviderClient, pool: string, group: string): Promise<boolean> => {
  try {
    await cognito.send(
      new CreateGroupCommand({ UserPoolId: pool, GroupName: group, Description: group === PUBLISH_GROUP ? 'May use the message route' : `May receive ${group.slice(DEVICE_GROUP_PREFIX.length)}` }),
    );
    return true;
  } catch (error) {
    if ((error as Error).name === 'GroupExistsException') return false;
    throw error;
  }
};

/** Makes the user's groups of one kind exactly `wanted`; returns what changed. */
const reconcile = async (cognito: CognitoIdentityProviderClient, pool: string, username: string, wanted: string[], inKind: (group: string) => boolean) => {
  const current = (await groupsOf(cognito, pool, username)).filter(inKind);
  const added = wanted.filter((g) => !current.includes(g));
  const removed = current.filter((g) => !wanted.includes(g));
  for (const group of added) {
    await ensureGroup(cognito, pool, group);
    await cognito.send(new AdminAddUserToGroupCommand({ UserPoolId: pool, Username: username, GroupName: group }));
  }
  for (const group of removed) await cognito.send(new AdminRemoveUserFromGroupCommand({ UserPoolId: pool, Username: username, GroupName: group }));
  return { added, removed };
};

const isDeviceGroup = (g: string) => g.startsWith(DEVICE_GROUP_PREFIX);

export const addUser = async (
  { stack, email, devices, publish }: { stack: string; email: string; devices: DeviceSelection; publish: boolean },
  { cloudFormation, cognito }: Clients,
): Promise<string> => {
  const pool = await userPoolOf(stack, cloudFormation);
  let created = true;
  try {
    // Cognito e-mails the invitation with a temporary password; the first sign-in sets a new one.
    await cognito.send(
      new AdminCreateUserCommand({
        UserPoolId: pool,
        Username: email,
        UserAttributes: [
          { Name: 'email', Value: email },
          { Name: 'email_verified', Value: 'true' },
        ],
        DesiredDeliveryMediums: ['EMAIL'],
      }),
    );
  } catch (error) {
    if ((error as Error).name !== 'UsernameExistsException') throw error;
    created = false;
    await cognito.send(new AdminUpdateUserAttributesCommand({ UserPoolId: pool, Username: email, UserAttributes: [{ Name: 'email_verified', Value: 'true' }] }));
  }
  await reconcile(cognito, pool, email, deviceGroups(devices), isDeviceGroup);
  await reconcile(cognito, pool, email, publish ? [PUBLISH_GROUP] : [], (g) => g === PUBLISH_GROUP);
  const scope = `devices ${devices === ALL_DEVICES ? '*' : devices.join(',')}, publish ${publish}`;
  return created ? `added ${email} (${scope}); Cognito has e-mailed an invitation with a temporary password` : `updated ${email} (${scope})`;
};

export const setDevices = async ({ stack, email, devices }: { stack: string; email: string; devices: DeviceSelection }, { cloudFormation, cognito }: Clients): Promise<string> => {
  const pool = await userPoolOf(stack, cloudFormation);
  try {
    const { added, removed } = await reconcile(cognito, pool, email, deviceGroups(devices), isDeviceGroup);
    return `${email}: devices ${devices === ALL_DEVICES ? '*' : devices.join(',')} (added ${added.length}, removed ${removed.length}); signed-in pages see it at their next token renewal`;
  } catch (error) {
    if ((error as Error).name === 'UserNotFoundException') throw new UserCommandError(`no user ${email} in stack ${stack}: add them with npm run user -- add ${email} --devices ...`);
    throw error;
  }
};

export const removeUser = async ({ stack, email }: { stack: string; email: string }, { cloudFormation, cognito }: Clients): Promise<string> => {
  const pool = await userPoolOf(stack, cloudFormation);
  try {
    await cognito.send(new AdminDeleteUserCommand({ UserPoolId: pool, Username: email }));
  } catch (error) {
    if ((error as Error).name === 'UserNotFoundException') throw new UserCommandError(`no user ${email} in stack ${stack}`);
    throw error;
  }
  return `removed ${email}; open connections keep their scope until they close (at most the access token's lifetime when the page renews)`;
};

export interface UserRow {
  email: string;
  status: string;
  devices: string;
  publish: boolean;
}

export const listUsers = async ({ stack }: { stack: string }, { cloudFormation, cognito }: Clients): Promise<UserRow[]> => {
  const pool = await userPoolOf(stack, cloudFormation);
  const rows: UserRow[] = [];
  let token: string | undefined;
  do {
    const page = await cognito.send(new ListUsersCommand({ UserPoolId: pool, PaginationToken: token }));
    for (const user of page.Users ?? []) {
      const username = user.Username as string;
      const groups = await groupsOf(cognito, pool, username);
      const devices = groups.filter(isDeviceGroup).map((g) => g.slice(DEVICE_GROUP_PREFIX.length));
      rows.push({
        email: user.Attributes?.find((a) => a.Name === 'email')?.Value ?? username,
        status: user.UserStatus ?? 'UNKNOWN',
        devices: devices.includes('*') ? '*' : devices.sort().join(',') || '(none)',
        publish: groups.includes(PUBLISH_GROUP),
      });
    }
    token = page.PaginationToken;
  } while (token);
  return rows.sort((a, b) => a.email.localeCompare(b.email));
};

export const formatUsers = (rows: UserRow[]): string => {
  if (rows.length === 0) return 'no users yet: npm run user -- add <email> --devices ... --stack <name>';
  const table = [['EMAIL', 'STATUS', 'DEVICES', 'PUBLISH'], ...rows.map((r) => [r.email, r.status, r.devices, String(r.publish)])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
};

// Cognito quota: a user belongs to at most 100 groups (one is publish). Past that, use devices:*.
export const MAX_DEVICE_GROUPS = 99;
// Cognito group names have at most 128 characters, so devices:<id> holds an id of at most 120; a device id may
// have 128 (frames.ts). Such a device can be given to people only through devices:* (every device).
export const MAX_GROUP_NAME = 128;
export const MAX_GROUPED_DEVICE_ID = MAX_GROUP_NAME - DEVICE_GROUP_PREFIX.length;

const parseDevices = (raw: string | undefined): DeviceSelection => {
  if (!raw) throw new UserCommandError(`--devices is required (dev-1,dev-2 or '*')\n${USAGE}`);
  if (raw.trim() === ALL_DEVICES) return ALL_DEVICES;
  const ids = [...new Set(raw.split(',').map((d) => d.trim()).filter(Boolean))];
  const bad = ids.find((id) => !DEVICE_ID_PATTERN.test(id));
  if (ids.length === 0 || bad !== undefined) {
    throw new UserCommandError(`--devices: ${bad === undefined ? 'name at least one device' : `"${bad}" is not a device id (1 to 128 of A-Z a-z 0-9 _ . : @ -)`}`);
  }
  const long = ids.find((id) => id.length > MAX_GROUPED_DEVICE_ID);
  if (long !== undefined) {
    throw new UserCommandError(
      `--devices: "${long}" has ${long.length} characters; its group ${DEVICE_GROUP_PREFIX}<id> would pass Cognito's ${MAX_GROUP_NAME}-character group name, ` +
        `so a device id given one by one has at most ${MAX_GROUPED_DEVICE_ID}. Give this person every device with --devices '*' instead, or use a shorter device id`,
    );
  }
  if (ids.length > MAX_DEVICE_GROUPS) throw new UserCommandError(`--devices names ${ids.length} devices; a Cognito user is in at most 100 groups, so at most ${MAX_DEVICE_GROUPS} devices (or '*')`);
  return ids;
};

/** Runs one command line; returns what to print. */
export const runUserCommand = async (argv: string[], clients: (region?: string) => Clients): Promise<string> => {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { stack: { type: 'string' }, region: { type: 'string' }, devices: { type: 'string' }, publish: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
    });
  } catch (error) {
    throw new UserCommandError(`${(error as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const [command, email, ...extra] = positionals;
  if (values.help || !command) return USAGE;
  if (extra.length > 0) throw new UserCommandError(`unexpected ${extra.join(' ')}\n${USAGE}`);
  if (!values.stack) throw new UserCommandError(`--stack <name> is required (the stack deployed with AuthMode=cognito)\n${USAGE}`);
  const needsEmail = () => {
    if (!email || !/^[^\s@]+@[^\s@]+$/.test(email)) throw new UserCommandError(`${command} needs the user's e-mail address, got ${email ? `"${email}"` : 'nothing'}\n${USAGE}`);
    return email;
  };
  const aws = clients(values.region);
  switch (command) {
    case 'add':
      return addUser({ stack: values.stack, email: needsEmail(), devices: parseDevices(values.devices), publish: values.publish === true }, aws);
    case 'set-devices':
      return setDevices({ stack: values.stack, email: needsEmail(), devices: parseDevices(values.devices) }, aws);
    case 'remove':
      return removeUser({ stack: values.stack, email: needsEmail() }, aws);
    case 'list':
      return formatUsers(await listUsers({ stack: values.stack }, aws));
    default:
      throw new UserCommandError(`unknown command "${command}": use add, set-devices, list or remove\n${USAGE}`);
  }
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runUserCommand(process.argv.slice(2), (region) => ({ cloudFormation: new CloudFormationClient({ region }), cognito: new CognitoIdentityProviderClient({ region }) }))
    .then((text) => console.log(text))
    .catch((error: Error) => {
      console.error(`error: ${error.message}`);
      process.exit(1);
    });
}
