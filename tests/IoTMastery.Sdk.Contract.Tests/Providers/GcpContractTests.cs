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
public sealed class GcpConnectionLifecycleTests(GcpFixture fixture) : ConnectionLifecycleContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpDisposeDeliversTelemetryTests(GcpFixture fixture) : DisposeDeliversTelemetryContract<GcpFixture>(fixture);

[Collection(GcpCollection.Name)]
public sealed class GcpLateDesiredHandlerTests(GcpFixture fixture) : LateDesiredHandlerContract<GcpFixture>(fixture);

// Not bound: OfflineCommandContract — the bridge relay hands every command to mosquitto and cannot see subscriptions, so the registry double never answers FAILED_PRECONDITION and an offline device times out.
// Not bound: CredentialEnforcementContract — the bridge broker is mosquitto without client authentication and the relay does not verify device JWTs against the registry double, so nothing refuses a removed key or a blocked device.
// Not bound: DisableEnforcementContract — as CredentialEnforcementContract: nothing on the bridge checks the blocked flag.
// Not bound: LiveRevocationContract — as CredentialEnforcementContract.
// Not bound: LiveDisableContract — as DisableEnforcementContract.
