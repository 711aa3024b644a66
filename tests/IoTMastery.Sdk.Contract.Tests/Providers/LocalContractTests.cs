namespace IoTMastery.Sdk.Contract.Tests.Providers;

// Every contract bound to the Local provider; one shared peer for the whole collection.

[Collection(LocalCollection.Name)]
public sealed class LocalRegistryTests(LocalFixture fixture) : RegistryContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalRegistryVersionTests(LocalFixture fixture) : RegistryVersionContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalCommandsTests(LocalFixture fixture) : CommandsContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalOfflineCommandTests(LocalFixture fixture) : OfflineCommandContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalStateVersionTests(LocalFixture fixture) : StateVersionContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalStateDeliveryTests(LocalFixture fixture) : StateDeliveryContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalTelemetryTests(LocalFixture fixture) : TelemetryContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalErrorsTests(LocalFixture fixture) : ErrorsContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalCredentialsTests(LocalFixture fixture) : CredentialsContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalCredentialEnforcementTests(LocalFixture fixture) : CredentialEnforcementContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalDisableEnforcementTests(LocalFixture fixture) : DisableEnforcementContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalLiveRevocationTests(LocalFixture fixture) : LiveRevocationContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalLiveDisableTests(LocalFixture fixture) : LiveDisableContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalFirmwareTests(LocalFixture fixture) : FirmwareContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalConnectionLifecycleTests(LocalFixture fixture) : ConnectionLifecycleContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalDisposeDeliversTelemetryTests(LocalFixture fixture) : DisposeDeliversTelemetryContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalLateDesiredHandlerTests(LocalFixture fixture) : LateDesiredHandlerContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalPresenceTests(LocalFixture fixture) : PresenceContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalPatchingTests(LocalFixture fixture) : PatchingContract<LocalFixture>(fixture);

[Collection(LocalCollection.Name)]
public sealed class LocalMinimumVersionTests(LocalFixture fixture) : MinimumVersionContract<LocalFixture>(fixture);
