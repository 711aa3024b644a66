namespace IoTMastery.Sdk.Contract.Tests.Providers;

// Every contract bound to the Azure provider; one shared peer for the whole collection.

[Collection(AzureCollection.Name)]
public sealed class AzureRegistryTests(AzureFixture fixture) : RegistryContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureRegistryVersionTests(AzureFixture fixture) : RegistryVersionContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureCommandsTests(AzureFixture fixture) : CommandsContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureOfflineCommandTests(AzureFixture fixture) : OfflineCommandContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureStateVersionTests(AzureFixture fixture) : StateVersionContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureStateDeliveryTests(AzureFixture fixture) : StateDeliveryContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureTelemetryTests(AzureFixture fixture) : TelemetryContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureErrorsTests(AzureFixture fixture) : ErrorsContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureCredentialsTests(AzureFixture fixture) : CredentialsContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureCredentialEnforcementTests(AzureFixture fixture) : CredentialEnforcementContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureDisableEnforcementTests(AzureFixture fixture) : DisableEnforcementContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureLiveRevocationTests(AzureFixture fixture) : LiveRevocationContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureLiveDisableTests(AzureFixture fixture) : LiveDisableContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureFirmwareTests(AzureFixture fixture) : FirmwareContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureConnectionLifecycleTests(AzureFixture fixture) : ConnectionLifecycleContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureLateDesiredHandlerTests(AzureFixture fixture) : LateDesiredHandlerContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzurePresenceTests(AzureFixture fixture) : PresenceContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzurePatchingTests(AzureFixture fixture) : PatchingContract<AzureFixture>(fixture);

[Collection(AzureCollection.Name)]
public sealed class AzureMinimumVersionTests(AzureFixture fixture) : MinimumVersionContract<AzureFixture>(fixture);

// On its own hub double: its reader starts at the oldest event (see AzureFromEarliestFixture).
[Collection(AzureFromEarliestCollection.Name)]
public sealed class AzureDisposeDeliversTelemetryTests(AzureFromEarliestFixture fixture) : DisposeDeliversTelemetryContract<AzureFromEarliestFixture>(fixture);
