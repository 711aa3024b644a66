namespace IoTMastery.Sdk.Contract.Tests.Providers;

// Every contract bound to the Gcp provider; one shared peer for the whole collection.

[Collection(GcpCollection.Name)]
public sealed class GcpRegistryTests(GcpFixture fixture) : RegistryContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpRegistryVersionTests(GcpFixture fixture) : RegistryVersionContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpCommandsTests(GcpFixture fixture) : CommandsContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpStateVersionTests(GcpFixture fixture) : StateVersionContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpStateDeliveryTests(GcpFixture fixture) : StateDeliveryContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpTelemetryTests(GcpFixture fixture) : TelemetryContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpErrorsTests(GcpFixture fixture) : ErrorsContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpCredentialsTests(GcpFixture fixture) : CredentialsContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpOfflineCommandTests(GcpFixture fixture) : OfflineCommandContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpCredentialEnforcementTests(GcpFixture fixture) : CredentialEnforcementContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpDisableEnforcementTests(GcpFixture fixture) : DisableEnforcementContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpLiveRevocationTests(GcpFixture fixture) : LiveRevocationContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpLiveDisableTests(GcpFixture fixture) : LiveDisableContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpFirmwareTests(GcpFixture fixture) : FirmwareContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpConnectionLifecycleTests(GcpFixture fixture) : ConnectionLifecycleContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpDisposeDeliversTelemetryTests(GcpFixture fixture) : DisposeDeliversTelemetryContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpLateDesiredHandlerTests(GcpFixture fixture) : LateDesiredHandlerContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpPresenceTests(GcpFixture fixture) : PresenceContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpPatchingTests(GcpFixture fixture) : PatchingContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpMinimumVersionTests(GcpFixture fixture) : MinimumVersionContract<GcpFixture>(fixture);
