/* Replaced by the mock server implementation. */
typedef int plm_mock_placeholder;
