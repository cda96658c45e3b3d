/** `npm run user`: the Cognito admin calls behind add, set-devices, list and remove, against aws-sdk-client-mock. */
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
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'chai';
import { UserCommandError, runUserCommand } from '../../../scripts/user.js';

const POOL = 'eu-west-1_AbCdEf123';

const named = (name: string, message = name) => Object.assign(new Error(message), { name });

describe('npm run user (Cognito admin API)', () => {
  const cfn = mockClient(CloudFormationClient);
  const cognito = mockClient(CognitoIdentityProviderClient);
  const run = (line: string) =>
    runUserCommand(line.split(' '), () => ({ cloudFormation: new CloudFormationClient({ region: 'eu-west-1' }), cognito: new CognitoIdentityProviderClient({ region: 'eu-west-1' }) }));
  const failure = async (line: string) => {
    try {
      await run(line);
    } catch (error) {
      expect(error).to.be.instanceOf(UserCommandError);
      return (error as Error).message;
    }
    throw new Error(`expected "${line}" to fail`);
  };
  const calls = (command: Parameters<typeof cognito.commandCalls>[0]) => cognito.commandCalls(command).map((c) => c.args[0].input as Record<string, unknown>);

  beforeEach(() => {
    cfn.reset();
    cognito.reset();
    cfn.on(DescribeStacksCommand, { StackName: 'iot' }).resolves({
      Stacks: [
        {
          StackName: 'iot',
          CreationTime: new Date(),
          StackStatus: 'UPDATE_COMPLETE',
          Parameters: [{ ParameterKey: 'AuthMode', ParameterValue: 'cognito' }],
          Outputs: [{ OutputKey: 'UserPoolId', OutputValue: POOL }],
        },
      ],
    });
    cognito.on(AdminListGroupsForUserCommand).resolves({ Groups: [] });
    cognito.on(CreateGroupCommand).resolves({});
    cognito.on(AdminAddUserToGroupCommand).resolves({});
    cognito.on(AdminRemoveUserFromGroupCommand).resolves({});
  });

  it('adds a user (Cognito e-mails the invitation) and puts them in the devices:<id> groups and publish, creating missing groups', async () => {
    cognito.on(AdminCreateUserCommand).resolves({});
    cognito.on(CreateGroupCommand, { GroupName: 'devices:dev-1' }).rejects(named('GroupExistsException'));

    const text = await run('add alice@example.com --devices dev-1,dev-2 --publish --stack iot');

    expect(text).to.match(/^added alice@example\.com \(devices dev-1,dev-2, publish true\)/);
    expect(calls(AdminCreateUserCommand)[0]).to.deep.include({ UserPoolId: POOL, Username: 'alice@example.com', DesiredDeliveryMediums: ['EMAIL'] });
    expect(calls(CreateGroupCommand).map((c) => c.GroupName)).to.deep.equal(['devices:dev-1', 'devices:dev-2', 'publish']);
    expect(calls(AdminAddUserToGroupCommand).map((c) => c.GroupName)).to.deep.equal(['devices:dev-1', 'devices:dev-2', 'publish']);
    expect(calls(AdminRemoveUserFromGroupCommand)).to.deep.equal([]);
  });

  it('updates an existing user: their device groups become exactly the new list, and publish goes without --publish', async () => {
    cognito.on(AdminCreateUserCommand).rejects(named('UsernameExistsException'));
    cognito.on(AdminUpdateUserAttributesCommand).resolves({});
    cognito.on(AdminListGroupsForUserCommand).resolves({ Groups: [{ GroupName: 'devices:dev-1' }, { GroupName: 'devices:old' }, { GroupName: 'publish' }, { GroupName: 'admins' }] });

    const text = await run('add alice@example.com --devices dev-1,dev-3 --stack iot');

    expect(text).to.equal('updated alice@example.com (devices dev-1,dev-3, publish false)');
    expect(calls(AdminAddUserToGroupCommand).map((c) => c.GroupName)).to.deep.equal(['devices:dev-3']);
    expect(calls(AdminRemoveUserFromGroupCommand).map((c) => c.GroupName)).to.deep.equal(['devices:old', 'publish']);
  });

  it("set-devices replaces only the device groups, and '*' is the devices:* group", async () => {
    cognito.on(AdminListGroupsForUserCommand).resolves({ Groups: [{ GroupName: 'devices:dev-1' }, { GroupName: 'publish' }] });

    await run("set-devices alice@example.com --devices * --stack iot");

    expect(calls(AdminAddUserToGroupCommand).map((c) => c.GroupName)).to.deep.equal(['devices:*']);
    expect(calls(AdminRemoveUserFromGroupCommand).map((c) => c.GroupName)).to.deep.equal(['devices:dev-1']);
  });

  it('lists every user across pages with their status and scope', async () => {
    cognito
      .on(ListUsersCommand)
      .resolvesOnce({ Users: [{ Username: 'u-2', UserStatus: 'FORCE_CHANGE_PASSWORD', Attributes: [{ Name: 'email', Value: 'bob@example.com' }] }], PaginationToken: 'p2' })
      .resolvesOnce({ Users: [{ Username: 'u-1', UserStatus: 'CONFIRMED', Attributes: [{ Name: 'email', Value: 'alice@example.com' }] }] });
    cognito.on(AdminListGroupsForUserCommand, { Username: 'u-1' }).resolves({ Groups: [{ GroupName: 'devices:dev-2' }, { GroupName: 'devices:dev-1' }, { GroupName: 'publish' }] });
    cognito.on(AdminListGroupsForUserCommand, { Username: 'u-2' }).resolves({ Groups: [] });

    const text = await run('list --stack iot');

    expect(text.split('\n')).to.deep.equal([
      'EMAIL              STATUS                 DEVICES      PUBLISH',
      'alice@example.com  CONFIRMED              dev-1,dev-2  true',
      'bob@example.com    FORCE_CHANGE_PASSWORD  (none)       false',
    ]);
  });

  it('removes a user, and says so clearly when there is none', async () => {
    cognito.on(AdminDeleteUserCommand, { Username: 'alice@example.com' }).resolves({});
    cognito.on(AdminDeleteUserCommand, { Username: 'nobody@example.com' }).rejects(named('UserNotFoundException', 'User does not exist.'));

    expect(await run('remove alice@example.com --stack iot')).to.match(/^removed alice@example\.com/);
    expect(await failure('remove nobody@example.com --stack iot')).to.equal('no user nobody@example.com in stack iot');
  });

  it('says when there is no such stack', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'nope' }).rejects(named('ValidationError', 'Stack with id nope does not exist'));
    expect(await failure('list --stack nope')).to.equal('no such stack: nope (check --stack and --region)');
  });

  it('says when the stack is not in cognito mode, and what to do instead', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'old' }).resolves({
      Stacks: [{ StackName: 'old', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Parameters: [{ ParameterKey: 'AuthMode', ParameterValue: 'secret' }], Outputs: [] }],
    });
    const message = await failure('add alice@example.com --devices dev-1 --stack old');
    expect(message).to.match(/^stack old is not in cognito mode \(AuthMode=secret\): deploy it with --parameter-overrides AuthMode=cognito/);
    expect(message).to.include('npm run token -- --stack old');
    expect(calls(AdminCreateUserCommand)).to.deep.equal([]);
  });

  it("refuses a device id whose devices:<id> group would pass Cognito's 128-character group name (ids of 121 to 128), before calling AWS", async () => {
    const longest = 'd'.repeat(120);
    cognito.on(AdminCreateUserCommand).resolves({});
    await run(`add alice@example.com --devices ${longest} --stack iot`);
    expect(calls(CreateGroupCommand).map((c) => c.GroupName)).to.deep.equal([`devices:${longest}`]);
    expect(`devices:${longest}`).to.have.length(128);
    cfn.resetHistory();
    for (const length of [121, 128]) {
      const id = 'd'.repeat(length);
      const message = await failure(`add alice@example.com --devices dev-1,${id} --stack iot`);
      expect(message, String(length)).to.include(`"${id}" has ${length} characters`).and.include('at most 120').and.include("--devices '*'");
      expect(await failure(`set-devices alice@example.com --devices ${id} --stack iot`)).to.include('at most 120');
    }
    expect(cfn.commandCalls(DescribeStacksCommand)).to.have.length(0);
  });

  it('refuses bad input before calling AWS: no --stack, no e-mail, bad device ids, too many devices, unknown commands', async () => {
    expect(await failure('list')).to.match(/^--stack <name> is required/);
    expect(await failure('add --devices dev-1 --stack iot')).to.match(/^add needs the user's e-mail address, got nothing/);
    expect(await failure('add alice@example.com --stack iot')).to.match(/^--devices is required/);
    expect(await failure('add alice@example.com --devices dev/1 --stack iot')).to.match(/"dev\/1" is not a device id/);
    const many = Array.from({ length: 100 }, (_, i) => `d${i}`).join(',');
    expect(await failure(`add alice@example.com --devices ${many} --stack iot`)).to.match(/at most 99 devices/);
    expect(await failure('promote alice@example.com --stack iot')).to.match(/^unknown command "promote"/);
    expect(cfn.commandCalls(DescribeStacksCommand)).to.have.length(0);
  });
});
