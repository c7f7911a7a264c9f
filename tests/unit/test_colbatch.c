/* Placeholder: the tests of colbatch land with it. */
int main(void)
{
	return 0;
}
